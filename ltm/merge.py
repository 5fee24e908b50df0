"""`ltm merge`: combine finished adapters into one new adapter with peft's `add_weighted_adapter`.

Why: once the ranking knows which corpora help, the next question is whether their adapters
combined beat each alone — cheaper than training on the mixture, and a different answer. The
merge is written as an ordinary adapter folder (``runs/adapters/merge-<method>-<members>-<hash>``)
with a manifest naming its members, method, weights and density, so `ltm eval` tests it like any
other row and `ltm score` sets it against each member and against the mixture-trained adapter
of the same corpora (``ltm/score_merges.py``).

Methods are peft's (https://huggingface.co/docs/peft/developer_guides/model_merging):
- ``cat``: concatenates the members' LoRA factors; the update is exactly Σ wᵢ·ΔWᵢ (rank = Σ rᵢ).
- ``linear``: combines A and B factors separately (each with √wᵢ), so for two different members
  the update has cross terms Bᵢ·Aⱼ; members must share a rank.
- ``ties`` / ``dare_ties``: trim each member to ``density`` of its entries (by magnitude, or at
  random for DARE), elect signs, then combine; same rank required; DARE is seeded.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from . import atomic, basemodel, filehash
from .errors import LtmError
from .keys import version

MERGE_VERSION = version("merged adapter")  # ltm/keys.py: every cached artifact, its key and its code
METHODS = ("cat", "linear", "ties", "dare_ties")
SAME_RANK = {"linear", "ties", "dare_ties"}
WITH_DENSITY = {"ties", "dare_ties"}


@dataclass
class MergeResult:
    path: Path
    manifest: dict
    reused: bool


def _manifest(folder: Path) -> dict:
    from .testbench.rows import read_manifest

    return read_manifest(folder)


def resolve_members(config, refs: list[str]) -> list[Path]:
    """Adapter folders from paths, adapter folder names, or corpus names (the adapter trained
    on that corpus with seed 0 on this base, when several seeds exist)."""
    from .train import adapters_dir

    root = adapters_dir(config)
    folders = []
    for ref in refs:
        path = Path(ref).expanduser()
        if path.is_dir():
            folders.append(path.resolve())
            continue
        if (root / ref).is_dir():
            folders.append((root / ref).resolve())
            continue
        trained = []
        for folder in sorted(root.glob("*")):
            if (folder / "manifest.json").is_file() and not folder.name.startswith("."):
                manifest = _manifest(folder)
                if manifest.get("source") == ref and "merge" not in manifest:
                    seed = manifest.get("config", {}).get("training", {}).get("seed", 0)
                    trained.append((seed, folder.stat().st_mtime, folder))
        if not trained:
            raise LtmError(f"{ref}: no adapter folder, adapter name or corpus with a trained adapter in {root} — "
                           f"train it first (`ltm train {ref}`) or pass an adapter folder")
        trained.sort(key=lambda t: (t[0], -t[1]))
        folders.append(trained[0][2].resolve())
    return folders


def ranked_members(config, run: str | None, top: int) -> tuple[list[Path], list[float], str]:
    """The top `top` healthy adapters of a scored run, with weights from their Δ vs base."""
    from .score import score_run
    from .testbench.run import results_dir

    run_dir = Path(run) if run and Path(run).is_dir() else results_dir(config, run)
    scored, _ = score_run(config, run_dir, quiet=True, track=False)  # picking weights, not a ranking to log
    folders, gains = [], []
    for item in scored:
        summary = item.row.summary
        if item.rank is None or item.damaged or summary.get("kind") not in ("adapter", "corpus"):
            continue
        if summary.get("merge"):
            continue
        adapter = summary.get("adapter")
        if summary.get("kind") == "corpus":  # a corpus pooled over seeds: merge its first seed
            first = next((s for s in scored if s.row.name == summary["members"][0]), None)
            adapter = first.row.summary.get("adapter") if first else None
        if adapter and Path(adapter).is_dir():
            folders.append(Path(adapter))
            gains.append(item.delta.value)
        if len(folders) == top:
            break
    if len(folders) < top:
        raise LtmError(f"{run_dir}: only {len(folders)} ranked, healthy adapter(s) to merge, asked for --top {top} — "
                       "train and evaluate more corpora, or name the adapters")
    weights, why = gain_weights(gains)
    return folders, weights, f"{why} in {run_dir.name}"


def gain_weights(gains: list[float | None]) -> tuple[list[float], str]:
    """Weights ∝ each member's positive gain over the base, summing to 1; equal when none gained."""
    positive = [max(0.0, g) if g is not None and math.isfinite(g) else 0.0 for g in gains]
    if sum(positive) <= 0:
        return [1.0 / len(gains)] * len(gains), "equal weights (no member has a positive Δ vs base)"
    return [p / sum(positive) for p in positive], "weights ∝ Δ vs base"


def weights_from_run(config, folders: list[Path], run: str | None) -> tuple[list[float], str]:
    """Default weights for named members: from the run's ranking when it scored them all."""
    from .score import score_run
    from .testbench.run import results_dir

    run_dir = Path(run) if run and Path(run).is_dir() else results_dir(config, run)
    equal = [1.0 / len(folders)] * len(folders)
    if not (run_dir / "summary.json").exists():
        return equal, f"equal weights (no scored run at {run_dir})"
    scored, _ = score_run(config, run_dir, quiet=True, track=False)  # picking weights, not a ranking to log
    by_adapter = {Path(s.row.summary["adapter"]).resolve(): s for s in scored if s.row.summary.get("adapter")}
    if not all(f.resolve() in by_adapter for f in folders):
        return equal, f"equal weights ({run_dir.name} has not evaluated every member)"
    weights, why = gain_weights([by_adapter[f.resolve()].delta.value for f in folders])
    return weights, f"{why} in {run_dir.name}"


def merge_name(method: str, sources: list[str], digest: str) -> str:
    members = "+".join(s.replace("/", "_") for s in sources)
    if len(members) > 60:
        members = members[:57] + "..."
    return f"merge-{method}-{members}-{digest}"


def _check(config, method: str, folders: list[Path], manifests: list[dict], weights: list[float],
           density: float, ref) -> None:
    if method not in METHODS:
        raise LtmError(f"merge method {method!r} is not one of {', '.join(METHODS)}")
    if not folders:
        raise LtmError("nothing to merge — name two or more adapters, or use --top K")
    if len(weights) != len(folders):
        raise LtmError(f"{len(weights)} weight(s) for {len(folders)} adapter(s) — give one --weights value per adapter")
    if not all(math.isfinite(w) for w in weights):
        raise LtmError("merge weights must be finite numbers")
    if method in WITH_DENSITY and not 0 < density <= 1:
        raise LtmError(f"--density {density} is outside (0, 1] — it is the share of each member's entries kept")
    for folder, manifest in zip(folders, manifests, strict=True):
        trained_on = manifest.get("base", {}).get("fingerprint")
        if trained_on != ref.fingerprint:
            raise LtmError(f"{folder}: trained on base {manifest.get('base', {}).get('spec')!r} ({trained_on}), "
                           f"not on {config.base.model!r} ({ref.fingerprint}) — merge adapters of one base, "
                           "with the config they were trained with")
    ranks = {json.loads((f / "adapter_config.json").read_text(encoding="utf-8")).get("r") for f in folders}
    if method in SAME_RANK and len(folders) > 1 and len(ranks) > 1:
        raise LtmError(f"{method} needs adapters of one LoRA rank, these have ranks {sorted(ranks)} — "
                       "use --method cat, which accepts any ranks")


def merge(config, folders: list[Path], method: str = "cat", weights: list[float] | None = None,
          density: float = 0.5, seed: int = 0, why: str = "", force: bool = False,
          track: bool = True) -> MergeResult:
    """Merge `folders` into a new adapter under runs/adapters; reuse an identical earlier merge."""
    from .train import adapters_dir

    folders = [Path(f).resolve() for f in folders]
    manifests = [_manifest(f) for f in folders]
    weights = list(weights) if weights is not None else [1.0 / len(folders)] * len(folders)
    ref = basemodel.resolve(config.base.model, config.base.revision)
    _check(config, method, folders, manifests, weights, density, ref)
    members = [{"adapter": f.name, "path": str(f), "source": m.get("source"), "hash": m.get("hash"),
                "weights_sha256": m.get("weights_sha256") or filehash.weights_sha256(f), "weight": w}
               for f, m, w in zip(folders, manifests, weights, strict=True)]
    spec = {"v": MERGE_VERSION, "base": ref.fingerprint, "method": method,
            "members": [(m["weights_sha256"], round(m["weight"], 12)) for m in members],
            "density": density if method in WITH_DENSITY else None, "seed": seed if method == "dare_ties" else None}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    final = adapters_dir(config) / merge_name(method, [m["source"] or m["adapter"] for m in members], digest)
    if (final / "manifest.json").is_file() and not force:
        print(f"reusing {final.name} (same members, weights and method; --force to merge again)")
        return MergeResult(final, _manifest(final), True)

    started = time.perf_counter()
    with atomic.directory(final) as tmp_name:
        tmp = Path(tmp_name)
        rank = _combine(config, ref, folders, method, weights, density, seed, tmp)
        first = manifests[0]
        for folder in folders:  # the members' held-out text: perplexity on what each was trained on
            for text in sorted((folder / "heldout").glob("*.txt")):
                atomic.write_text(tmp / "heldout" / text.name, text.read_text(encoding="utf-8"))
        corpora = []
        for manifest, weight in zip(manifests, weights, strict=True):
            for part in manifest.get("corpora", []):
                corpora.append({**part, "weight": round(weight * part.get("weight", 1.0), 6)})
        config_block = json.loads(json.dumps(first.get("config", {})))
        config_block.setdefault("training", {})["rank"] = rank
        manifest = {
            "adapter": final.name, "hash": digest,
            "weights_sha256": filehash.weights_sha256(tmp, remember=False),
            "source": f"merge:{method}(" + "+".join(m["source"] or m["adapter"] for m in members) + ")",
            "corpora": corpora,
            "corpus_sha256": hashlib.sha256("".join(m.get("corpus_sha256", "") for m in manifests).encode()).hexdigest(),
            "base": first.get("base", basemodel.describe(ref)),
            "quantization": first.get("quantization", "none"),
            "config": config_block,
            "merge": {"method": method, "members": members, "weights": weights,
                      "density": density if method in WITH_DENSITY else None,
                      "seed": seed if method == "dare_ties" else None, "rank": rank,
                      "weights_from": why or "given", "version": MERGE_VERSION},
            "merge_seconds": round(time.perf_counter() - started, 2),
            "versions": _versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        manifest["mlflow_run_id"] = _track(config, manifest, tmp) if track else None
        atomic.write_json(tmp / "manifest.json", manifest)
    shares = ", ".join(f"{m['source']} {m['weight']:.3f}" for m in members)
    print(f"merged {final.name}: {method} of {len(folders)} adapter(s), rank {rank}, weights {shares} "
          f"({why or 'given'})")
    return MergeResult(final, manifest, False)


def _combine(config, ref, folders, method, weights, density, seed, out: Path) -> int:
    """Load the members onto the base, add the weighted adapter, save only it into `out`."""
    import torch
    from peft import PeftModel

    model = basemodel.load_model(ref, config.base.quantization, config.base.dtype, config.base.trust_remote_code)
    names = [f"m{i}" for i in range(len(folders))]
    peft_model = PeftModel.from_pretrained(model, str(folders[0]), adapter_name=names[0], is_trainable=False)
    for name, folder in zip(names[1:], folders[1:], strict=True):
        peft_model.load_adapter(str(folder), adapter_name=name, is_trainable=False)
    torch.manual_seed(seed)  # DARE drops entries at random
    try:
        peft_model.add_weighted_adapter(names, weights, adapter_name="merged", combination_type=method,
                                        density=density if method in WITH_DENSITY else None)
    except ValueError as exc:
        raise LtmError(f"peft could not merge these adapters with {method}: {exc} — try --method cat") from None
    scratch = out / ".peft"
    peft_model.save_pretrained(str(scratch), selected_adapters=["merged"])
    saved = scratch / "merged" if (scratch / "merged").is_dir() else scratch
    for item in saved.iterdir():
        shutil.move(str(item), out / item.name)
    shutil.rmtree(scratch, ignore_errors=True)
    for tokenizer_file in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
        if (folders[0] / tokenizer_file).is_file():
            shutil.copy2(folders[0] / tokenizer_file, out / tokenizer_file)
    return int(peft_model.peft_config["merged"].r)


def _versions() -> dict:
    from .train import library_versions

    return library_versions()


def _track(config, manifest: dict, folder: Path) -> str | None:
    from . import tracking

    merge_info = manifest["merge"]
    tags = {"ltm.kind": "merge", "ltm.adapter": manifest["adapter"], "ltm.merge.method": merge_info["method"],
            "ltm.merge.members": ",".join(m["adapter"] for m in merge_info["members"])}
    params = {"method": merge_info["method"], "density": str(merge_info["density"]), "rank": str(merge_info["rank"]),
              **{f"weight.{m['adapter']}": f"{m['weight']:.6g}" for m in merge_info["members"]}}
    with tracking.guard():
        with tracking.run(config, manifest["adapter"], tags, params) as (client, run_id):
            tracking.log_artifacts(client, run_id, folder, "adapter")
            return run_id
    return None


def sweep_merges(config, folders: list[Path], run: str, track: bool = True) -> list[Path]:
    """`sweep.merges`: merge the sweep's best adapters with each method and evaluate the merges
    into the sweep's results run, so the ranking sets them against their members."""
    from .testbench.run import evaluate

    folders = [f for f in folders if (f / "manifest.json").is_file()]
    if len(folders) < 2:
        print(f"sweep.merges: {len(folders)} finished stage-1 adapter(s) — nothing to merge")
        return []
    weights, why = weights_from_run(config, folders, run)
    merged = [merge(config, folders, method, weights, why=why, track=track).path for method in config.sweep.merges]
    evaluate(config, adapters=merged, run=run, track=track, quiet=True)
    return merged
