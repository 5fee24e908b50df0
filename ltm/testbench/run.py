"""`ltm eval`: every row sits the scenes and benchmarks; results go to disk and MLflow.

Order of work: validate the scenes (before loading anything), load the base once, then for
each row — the base (adapters disabled), each adapter (set active, checked on a probe),
then each format variant (a second load, freed after) — score the scene items not already
in the item cache, perplexity, benchmarks, latency and attention entropy. Each row writes
``results/<run>/<row>.jsonl`` (one record per item) and ``<row>.summary.json`` atomically,
and one MLflow run with its metrics and transcripts.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from .. import atomic, basemodel
from ..errors import LtmError
from ..progress import progress_bar
from ..scenes import SceneSet, load_scenes
from . import cache as item_cache
from .items import ngrams, score_choices, score_open, score_short
from .metrics import flat_metrics, summarize
from .rows import LoadedBase, Row, adapter_rows

ATTENTION_PROMPTS = 64  # scene prompts used for the attention view


@dataclass
class EvalResult:
    run_dir: Path
    summaries: dict[str, dict]  # row name -> summary


def scenes_path(config) -> Path:
    return config.path(config.testbench.scenes)


def results_dir(config, run: str | None = None) -> Path:
    return config.runs_path / "results" / (run or config.name)


def find_adapters(config, ref) -> list[Path]:
    """Finished adapters under runs/adapters trained on this base (folders with a manifest)."""
    from ..train import adapters_dir

    found = []
    for folder in sorted(adapters_dir(config).glob("*")):
        manifest = folder / "manifest.json"
        if folder.is_dir() and manifest.is_file() and not folder.name.startswith("."):
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                continue
            if data.get("base", {}).get("fingerprint") == ref.fingerprint:
                found.append(folder)
    return found


def _variant_rows(config) -> list[Row]:
    rows = []
    for variant in dict.fromkeys(config.testbench.variants):
        quantization, dtype = ("nf4", config.base.dtype) if variant == "nf4" else ("none", "bf16")
        if (quantization, dtype) == (config.base.quantization, config.base.dtype):
            continue  # the base row is already in this format
        rows.append(Row(name=f"base-{variant}", kind="variant", quantization=quantization, dtype=dtype))
    return rows


def tested_scenes(config, stand_in: bool = False) -> SceneSet:
    """The scene items every row is tested on: the scenes folder, narrowed to `testbench.tags`,
    and the scene families of `testbench.families` at their calibrated difficulty (ltm/calibrate.py).

    `stand_in` (for `ltm estimate`, which counts items before any calibration): a family not yet
    calibrated is counted at its middle level instead of stopping with "run ltm scenes calibrate".
    """
    from ..calibrate import calibrated_scenes_path, find_calibration, stand_in_scenes

    if stand_in and config.testbench.families:
        from ..estimate import local_base

        ref = local_base(config)  # never downloads: an estimate must not fetch a 15 GB model
        families = find_calibration(config, ref) if ref is not None else None
    else:
        families = calibrated_scenes_path(config)
    scenes = load_scenes([scenes_path(config), families] if families else scenes_path(config))
    if stand_in and config.testbench.families and families is None:
        scenes = SceneSet(scenes.items + stand_in_scenes(config), scenes.file_hashes)
    if config.testbench.tags:
        wanted = set(config.testbench.tags)
        scenes = scenes.subset(lambda s: bool(wanted & set(s.tags)) or s.family is not None)
        if not scenes.items:
            raise LtmError(f"{config.source}: testbench.tags {sorted(wanted)} match no scene item under "
                           f"{scenes_path(config)} — use tags that the scenes' `tags:` lists carry")
    return scenes


def evaluate(config, adapters: list[Path] | None = None, run: str | None = None, track: bool = True,
             quiet: bool = False, kinds: set[str] | None = None, scenes_only: bool = False,
             loaded: LoadedBase | None = None) -> EvalResult:
    """Evaluate the base, `adapters` (default: all finished ones on this base) and the variants.

    `loaded`: a base already loaded in the config's format (the sweep's stage-2 trial passes the
    same one to its pruning and its full pass, so the base is loaded once per trial).

    `kinds` limits the scene items (e.g. {"choice"} for a cheap intermediate score);
    `scenes_only` leaves out perplexity, benchmarks, latency, attention and the pairwise judge —
    what a pruning pass does not read (the sweep's full pass then reuses the items it scored).
    """
    scenes = tested_scenes(config)  # fail on a bad scene before loading any model
    if kinds is not None:
        scenes = scenes.subset(lambda s: s.kind in kinds)
    basemodel.quiet_bitsandbytes()
    ref = basemodel.resolve(config.base.model, config.base.revision)
    tokenizer = basemodel.load_tokenizer(config.base.model, config.base.revision)
    scenes = _chat_template(config, scenes, tokenizer)
    folders = [Path(a) for a in adapters] if adapters is not None else find_adapters(config, ref)
    rows = [Row(name="base", kind="base", quantization=config.base.quantization, dtype=config.base.dtype)]
    rows += adapter_rows(folders)
    for row in rows[1:]:
        trained_on = row.manifest.get("base", {}).get("fingerprint")
        if trained_on and trained_on != ref.fingerprint:
            raise LtmError(f"{row.adapter}: trained on base {row.manifest['base'].get('spec')!r} "
                           f"({trained_on}), not on {config.base.model!r} ({ref.fingerprint}) — "
                           "evaluate it with the config it was trained with")
        row.quantization, row.dtype = config.base.quantization, config.base.dtype
    rows += _variant_rows(config)
    benchmarks = None if scenes_only else configured_benchmarks(config)  # lm-eval's task index is not cheap
    out = results_dir(config, run)
    out.mkdir(parents=True, exist_ok=True)
    cache_root = config.runs_path / "cache" / "testbench"
    summaries: dict[str, dict] = {}
    attention_rows: dict[str, list[float]] = {}
    context = _Context(config, scenes, tokenizer, ref, benchmarks, cache_root, quiet, scenes_only)
    base_records: list[dict] = []

    if loaded is None:
        loaded = LoadedBase.of_config(ref, config.base)
    context.judge_base = loaded
    with progress_bar("evaluating rows", total=len(rows)) as advance:
        for row in rows:
            if row.kind == "variant":
                holder = LoadedBase(ref, row.quantization, row.dtype, config.base.trust_remote_code,
                                    config.base.attn_implementation)
            else:
                holder = loaded
            summary, records, attention, bench_records = context.row(holder, row)
            if row.kind == "base":
                base_records = records
            if holder is not loaded:
                del holder
                gc.collect()
            else:
                holder.detach(row)
            _write_row(out, row, records, summary, bench_records)
            if track and context.computed.pop(row.name, True):
                _track(config, row, summary, out)
            summaries[row.name] = summary
            if attention:
                attention_rows[row.name] = attention
            advance(1, row=row.name)
    if attention_rows:
        from .attention import write_attention_report

        table, _png = write_attention_report(attention_rows, out)
        atomic.write_text(out / "attention_entropy.md", table + "\n")
    atomic.write_json(out / "summary.json", {"run": out.name, "base": basemodel.describe(ref),
                                             "scenes": str(scenes_path(config)), "scenes_sha256": scenes.sha256,
                                             "decoding": dataclasses.asdict(config.testbench.decoding),
                                             "rows": summaries})
    if not quiet:
        print_table(summaries)
        from .sensitivity import base_warnings

        for line in base_warnings(base_records):
            print(f"warning: {line}")
        print(f"results: {out}")
    return EvalResult(out, summaries)


def configured_benchmarks(config):
    if not config.testbench.benchmarks:
        return None
    from .lmeval_bridge import Benchmarks, materialize_builtin_tasks

    include = [materialize_builtin_tasks(config.runs_path / "lmeval_tasks")]
    bigbench_tasks = [t for t in config.testbench.benchmarks if t.startswith("bb_")]
    if bigbench_tasks:  # BIG-bench's tasks, fetched once from PyPI, written beside the builtin ones
        from .. import bigbench

        bigbench.materialize(bigbench_tasks, include[0])
    include += [config.path(p) for p in config.testbench.benchmark_include]
    tb = config.testbench
    return Benchmarks(tb.benchmarks, include, tb.benchmark_limit, tb.num_fewshot, tb.batch_size)


class _Context:
    """What every row needs: scenes, tokenizer, judge, caches."""

    def __init__(self, config, scenes: SceneSet, tokenizer, ref, benchmarks, cache_root: Path, quiet: bool,
                 scenes_only: bool = False):
        self.config, self.scenes, self.tokenizer, self.ref = config, scenes, tokenizer, ref
        self.benchmarks, self.cache_root, self.quiet = benchmarks, cache_root, quiet
        self.scenes_only = scenes_only  # evaluate(scenes_only=True): the pruning pass
        self.judge_base: LoadedBase | None = None
        self._judge = None
        self.base_records: dict[str, dict] = {}
        self.computed: dict[str, bool] = {}  # row -> computed anything new (else its MLflow run exists)
        self.has_open = any(s.kind == "open" for s in scenes.items)
        # What every row's figures depend on beyond ltm's inputs, the same for the whole evaluation.
        self.provenance = {"chat_template": config.base.chat_template, "base_fingerprint": ref.fingerprint,
                           "base_content": _content_hash(ref), "versions": _versions()}
        from .perplexity import general_text

        general = config.scoring.general_text  # read once, and before any model is loaded
        self.general_text = general_text(config.path(general) if general else None)

    def judge(self):
        if not self.has_open:
            return None
        if self._judge is None:
            from .judge import make_judge

            base = self.judge_base
            self._judge = make_judge(self.config.testbench.judge, self.config.runs_path / "cache" / "judge.jsonl",
                                     local_model=base.current, local_tokenizer=self.tokenizer,
                                     disable_adapter=base.disabled)
        return self._judge

    def judge_name(self) -> str | None:
        judge = self.config.testbench.judge
        if not self.has_open:
            return None
        from .judge import CACHE_VERSION  # a change in how verdicts are read invalidates judged records

        if judge.backend == "openai":
            return f"openai:v{CACHE_VERSION}:{judge.url}:{judge.model}"
        return f"local:v{CACHE_VERSION}:{judge.model or self.ref.fingerprint}"

    def row(self, holder: LoadedBase, row: Row) -> tuple[dict, list[dict], list[float] | None, list[dict]]:
        tb = self.config.testbench
        key = item_cache.row_key(self.ref.fingerprint, row, tb.decoding, self.judge_name())
        self._row_name = row.name
        self.computed[row.name] = False
        store = item_cache.ItemCache(self.cache_root, key)
        started = time.perf_counter()
        with holder.use(row) as model:
            if row.kind == "adapter":
                holder.check_active(row, self.tokenizer)
            records = self._scene_records(model, row, store)
            summary = summarize(records)
            bench_records: list[dict] = []
            attention = None
            if not self.scenes_only:
                summary.update(self._perplexity(model, row, store))
                if self.benchmarks is not None:
                    summary["benchmarks"], bench_records = self._benchmarks(model, store)
                if tb.latency:
                    summary["latency"] = self._cached(store, "latency", lambda: _latency(model, self.tokenizer))
                texts = _attention_texts(self.scenes)
                digest = hashlib.sha256(json.dumps(texts).encode()).hexdigest()[:16]  # new scenes, new measurement
                attention = self._cached(store, f"attention:{digest}", lambda: _attention(model, self.tokenizer, texts))
        if row.kind != "base" and self.base_records and not self.scenes_only:
            summary["judge_pairwise_vs_base"] = self._pairwise(records, store)
        if row.kind == "base":
            self.base_records = {r["id"]: r for r in records}
        summary.update(self._row_info(row))
        critiques = [r["critique"] for r in records if r.get("kind") == "open" and r.get("critique")]
        summary["judge_summary"] = critiques[0][:160] if critiques else None
        summary["eval_seconds"] = round(time.perf_counter() - started, 3)
        return summary, records, attention, bench_records

    def _cached(self, store, name: str, compute):
        hit = store.get(name)
        if hit is not None:
            return hit["value"]
        self._computing()
        value = compute()
        store.put_many([(name, {"value": value})])
        return value

    def _pairwise(self, records: list[dict], store) -> float | None:
        """Mean judge preference of this row's open answers over the base's (+1 all better, -1 all worse).

        Each pair is judged in both orders (the judge's position bias cancels); cached by the judge.
        """
        pairs = [(r, self.base_records.get(r["id"])) for r in records if r["kind"] == "open" and r.get("answer")]
        pairs = [(r, b) for r, b in pairs if b and b.get("answer") and b["answer"] != r["answer"]]
        judge = self.judge() if pairs else None
        if judge is None:
            return None
        index = self.scenes.by_id()

        def compute():
            with self.judge_base.disabled():
                return [judge.compare(r["prompt"], r["answer"], b["answer"], index[r["id"]].judge_principles()).preference
                        for r, b in pairs]
        digest = hashlib.sha256(json.dumps([(r["id"], r["answer"], b["answer"]) for r, b in pairs]).encode()).hexdigest()
        values = self._cached(store, f"pairwise:{digest[:16]}", compute)
        return round(sum(values) / len(values), 6) if values else None

    def _computing(self) -> None:
        self.computed[self._row_name] = True

    def _scene_records(self, model, row: Row, store) -> list[dict]:
        tb = self.config.testbench
        keyed = [(item_cache.item_key(s, self.scenes.input_text(s)), s) for s in self.scenes.items]
        missing = [(k, s) for k, s in keyed if store.get(k) is None]
        if missing:
            self._computing()
        by_kind: dict[str, list] = {"choice": [], "short": [], "open": []}
        for k, s in missing:
            by_kind[s.kind].append((k, s))
        for kind, pairs in by_kind.items():
            if not pairs:
                continue
            items = [s for _, s in pairs]
            # Score in slices so a kill keeps what finished (the cache file is appended per slice).
            step = max(tb.batch_size * 4, 16)
            for start in range(0, len(items), step):
                chunk = items[start:start + step]
                if kind == "choice":
                    records = score_choices(model, self.tokenizer, self.scenes, chunk, tb.batch_size,
                                            batch_tokens=tb.batch_tokens)
                elif kind == "short":
                    records = score_short(model, self.tokenizer, self.scenes, chunk, tb.decoding, tb.batch_size)
                else:
                    records = score_open(model, self.tokenizer, self.scenes, chunk, tb.decoding, tb.batch_size,
                                         self.judge(), self._corpus_grams(row), self.judge_base.disabled)
                store.put_many([(k, r) for (k, _), r in zip(pairs[start:start + step], records, strict=True)])
        decoding = dataclasses.asdict(tb.decoding)
        return [{**store.get(k), "row": row.name, "decoding": decoding} for k, _ in keyed]

    def _corpus_grams(self, row: Row) -> set | None:
        if row.adapter is None:
            return None
        texts = [p.read_text(encoding="utf-8") for p in sorted((row.adapter / "heldout").glob("*.txt"))]
        from ..corpora import read_corpus

        for part in row.manifest.get("corpora", []):
            path = Path(part.get("path", ""))
            if path.exists():
                try:
                    texts.append(read_corpus(path).text)
                except LtmError:
                    pass
        return set().union(*(ngrams(t) for t in texts)) if texts else None

    def _perplexity(self, model, row: Row, store) -> dict:
        from .perplexity import perplexity

        batch = max(1, self.config.testbench.batch_size // 2)
        tokens = self.config.testbench.batch_tokens
        out = {}
        text = self.general_text
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        out["ppl_general"] = self._cached(store, f"ppl:general:{digest}",
                                          lambda: perplexity(model, self.tokenizer, text, batch, batch_tokens=tokens))
        if row.adapter is not None:
            values = []
            for path in sorted((row.adapter / "heldout").glob("*.txt")):
                held = path.read_text(encoding="utf-8")
                digest = hashlib.sha256(held.encode()).hexdigest()[:12]
                values.append(self._cached(store, f"ppl:heldout:{digest}",
                                           lambda held=held: perplexity(model, self.tokenizer, held, batch,
                                                                        batch_tokens=tokens)))
            values = [v for v in values if v is not None]
            out["ppl_heldout"] = round(sum(values) / len(values), 6) if values else None
        return out

    def _benchmarks(self, model, store) -> tuple[dict, list[dict]]:
        bench = self.benchmarks
        result = self._cached(store, bench.cache_key(), lambda: dict(zip(("metrics", "records"), bench.run(model, self.tokenizer),
                                                             strict=True)))
        return result["metrics"], result["records"]

    def _row_info(self, row: Row) -> dict:
        info = {"row": row.name, "kind": row.kind, "decoding": dataclasses.asdict(self.config.testbench.decoding), "quantization": row.quantization, "dtype": row.dtype,
                "base": self.config.base.model, "adapter": str(row.adapter) if row.adapter else None,
                "adapter_hash": row.adapter_hash or None, "weights_sha256": row.weights_sha256 or None,
                "corpus": row.corpus or None,
                "tokenizer": f"{type(self.tokenizer).__name__} ({len(self.tokenizer)} tokens)",
                "corpus_files": [p.get("path") for p in row.manifest.get("corpora", [])] if row.manifest else [],
                # the same scenes on another machine or library version can score differently,
                # and the table says so beside every row
                **self.provenance}
        if row.manifest:
            training = row.manifest.get("config", {}).get("training", {})
            info["training"] = {k: row.manifest.get(k) for k in ("tokens_seen", "tokens_per_epoch", "train_seconds", "steps",
                                                                  "last_loss")}
            info["training"].update({"rank": training.get("rank"), "learning_rate": training.get("learning_rate"),
                                     "max_length": training.get("max_length"), "seed": training.get("seed"),
                                     "pages": sum(p.get("pages", 0) for p in row.manifest.get("corpora", []))})
            if row.manifest.get("merge"):  # a merged adapter: score sets it against its members
                merge = row.manifest["merge"]
                info["merge"] = {"method": merge["method"], "weights": merge["weights"],
                                 "members": [m["adapter"] for m in merge["members"]]}
        return info


def _chat_template(config, scenes: SceneSet, tokenizer) -> SceneSet:
    """Scene inputs as an instruct model is used to reading them: one user turn, then the assistant's."""
    mode = config.base.chat_template
    if mode == "off":
        return scenes
    if not getattr(tokenizer, "chat_template", None):
        raise LtmError(f"base.chat_template: {mode}, but {config.base.model!r} has no chat template — "
                       "set base.chat_template: off (a base model, not an instruct model)")

    def wrap(scene, text: str) -> str:
        if mode == "generate" and scene.kind == "choice":
            return text
        return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True)

    return scenes.with_template(wrap)


def _content_hash(ref) -> str | None:
    """The base folder's content hash: an embedded base rebuilt on another machine (or another
    library version) has the same recipe fingerprint but other weights, and this says so.
    A local folder's fingerprint already is that hash."""
    if ref.kind == "folder":
        return ref.fingerprint
    return basemodel.folder_fingerprint(ref.path) if ref.path and Path(ref.path).is_dir() else None


def _versions() -> dict:
    import platform

    from ..train import library_versions

    return {**library_versions(), "machine": platform.machine()}


def _latency(model, tokenizer) -> dict:
    from .latency import measure_latency

    return measure_latency(model, tokenizer)


def _attention_texts(scenes: SceneSet) -> list[str]:
    """The prompts the attention view is measured on: the first scene items' model inputs."""
    return [scenes.input_text(s) for s in scenes.items[:ATTENTION_PROMPTS]]


def _attention(model, tokenizer, texts: list[str]) -> list[float]:
    from .attention import attention_entropy

    return [round(v, 6) for v in attention_entropy(model, tokenizer, texts)]


def _write_row(out: Path, row: Row, records: list[dict], summary: dict, bench_records: list[dict]) -> None:
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    atomic.write_text(out / f"{row.name}.jsonl", lines)
    if bench_records:
        lines = "".join(json.dumps({**r, "row": row.name}, ensure_ascii=False) + "\n" for r in bench_records)
        atomic.write_text(out / f"{row.name}.benchmarks.jsonl", lines)
    atomic.write_json(out / f"{row.name}.summary.json", summary)


def _track(config, row: Row, summary: dict, out: Path) -> None:
    from .. import tracking

    tags = {"ltm.kind": "eval", "ltm.row": row.name, "ltm.row_kind": row.kind, "ltm.base": config.base.model,
            "ltm.quantization": row.quantization, "ltm.run": out.name}
    if row.adapter is not None:
        tags.update({"ltm.adapter": row.name, "ltm.corpus": row.corpus})
    params = {f"decoding.{k}": str(v) for k, v in dataclasses.asdict(config.testbench.decoding).items()}
    params["scenes"] = str(scenes_path(config))
    with tracking.run(config, f"eval:{out.name}:{row.name}", tags, params) as (mlflow_client, run_id):
        metrics = {k: v for k, v in flat_metrics(summary).items() if not k.startswith(("training.", "eval_seconds"))}
        tracking.log_metrics(mlflow_client, run_id, metrics)
        tracking.log_artifact(mlflow_client, run_id, out / f"{row.name}.jsonl", "transcripts")
        tracking.log_artifact(mlflow_client, run_id, out / f"{row.name}.summary.json", "transcripts")


def print_table(summaries: dict[str, dict]) -> None:
    columns = ["accuracy", "margin", "depth", "depth_max_steps", "consistency", "pressure", "novelty", "compression",
               "ppl_general", "ppl_heldout"]
    width = max([len(n) for n in summaries] + [4])
    print(f"{'row':<{width}}  " + "  ".join(f"{c:>11}" for c in columns))
    for name, summary in summaries.items():
        cells = []
        for c in columns:
            v = summary.get(c)
            cells.append(f"{'—':>11}" if v is None else f"{v:>11.3f}" if isinstance(v, float) else f"{v:>11}")
        print(f"{name:<{width}}  " + "  ".join(cells))
    families = sorted({f for s in summaries.values() for f in (s.get("family") or {})})
    if families:  # one column per scene family at its calibrated level (ltm/calibrate.py)
        names = [f"family.{f}" for f in families]
        sizes = [max(11, len(n)) for n in names]
        print(f"{'row':<{width}}  " + "  ".join(f"{n:>{w}}" for n, w in zip(names, sizes, strict=True)))
        for name, summary in summaries.items():
            values = [(summary.get("family") or {}).get(f) for f in families]
            print(f"{name:<{width}}  " + "  ".join(f"{'—':>{w}}" if v is None else f"{v:>{w}.3f}"
                                                   for v, w in zip(values, sizes, strict=True)))
