"""Standard benchmarks through lm-evaluation-harness, on the model we already loaded.

``HFLM(pretrained=<model object>)`` wraps the base (or the PeftModel with the current
adapter) without loading anything, so each row costs only its own forward passes. lm-eval's
request cache is *not* keyed by adapter, so it is never used here (``use_cache=None``,
``cache_requests=False``): with it, every adapter would get the first row's answers.

ltm ships small local tasks (``ltm/tasks``) that run offline; ``materialize_builtin_tasks``
writes their YAML with absolute data paths (lm-eval reads ``data_files`` relative to the
current directory, not to the YAML file).
"""

from __future__ import annotations

import difflib
import glob
import hashlib
import json
import logging
import os
from pathlib import Path

from .. import atomic, filehash
from ..errors import LtmError

BUILTIN_TASKS = Path(__file__).resolve().parents[1] / "tasks"

_TASK_TEMPLATE = """\
# Written by ltm (ltm/testbench/lmeval_bridge.py) from {source}; edit that, not this file.
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def task_yaml(name: str, data: Path, source: str | None = None) -> str:
    """`source`: what the header names as the place to edit (default: the data file's name)."""
    return _TASK_TEMPLATE.format(name=name, data=str(Path(data).resolve()), source=source or Path(data).name)


def materialize_builtin_tasks(folder: Path) -> Path:
    """Write one lm-eval task YAML per shipped ``ltm/tasks/<name>.jsonl`` into ``folder``."""
    folder = Path(folder)
    for data in sorted(BUILTIN_TASKS.glob("*.jsonl")):
        target = folder / f"{data.stem}.yaml"
        text = task_yaml(data.stem, data)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            atomic.write_text(target, text)
    return folder


def _quiet() -> None:
    for name in ("lm-eval", "lm_eval", "lm_eval.api", "lm_eval.evaluator", "lm_eval.models", "lm_eval.tasks",
                 "lm_eval.api.task", "lm_eval.models.huggingface", "lm_eval.evaluator_utils", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)


class Benchmarks:
    """The configured lm-eval tasks, resolved once and run on each row."""

    def __init__(self, tasks: list[str], include: list[Path], limit: int | None, num_fewshot: int, batch_size: int):
        from lm_eval.tasks import TaskManager

        _quiet()
        self.tasks, self.limit, self.num_fewshot, self.batch_size = list(tasks), limit, num_fewshot, batch_size
        paths = [str(p) for p in include]
        self.manager = TaskManager(include_path=paths or None, verbosity="ERROR")
        known = set(self.manager.all_tasks)
        unknown = [t for t in self.tasks if t not in known]
        if unknown:
            hint = difflib.get_close_matches(unknown[0], sorted(known), n=1)
            fix = f"did you mean {hint[0]!r}?" if hint else "check `testbench.benchmarks` and `testbench.benchmark_include`"
            raise LtmError(f"benchmark {unknown[0]!r} is not an lm-eval task — {fix}")
        self._lm = None

    def check_data(self) -> None:
        """Load every task's data now, so a dataset that is not cached (HF_HUB_OFFLINE=1) or a
        local task's missing file stops the sweep before any training, not after each trial has
        trained (the evaluation used to be the first to read it). One line per the first task
        that fails, naming it and the fix."""
        from lm_eval.tasks import get_task_dict

        _quiet()
        for task in self.tasks:
            try:
                get_task_dict([task], self.manager)
            except Exception as exc:  # datasets and lm-eval raise many kinds for a missing dataset
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise LtmError(f"benchmark {task!r}: its data cannot be read ({type(exc).__name__}: {first}) — cache it "
                               f"once on a connected machine (`HF_HUB_OFFLINE=0 lm_eval --model hf --model_args "
                               f"pretrained=<any small model> --tasks {task} --limit 1`), fix the task's data path, or "
                               "remove it from testbench.benchmarks") from None

    def cache_key(self) -> str:
        """Item-cache key of these benchmarks' result on a row (see ``cache_key``)."""
        return cache_key(self.manager, self.tasks, self.limit, self.num_fewshot)

    def run(self, model, tokenizer, generator=None) -> tuple[dict[str, dict[str, float]], list[dict]]:
        """Return ({task: {metric: value}}, per-item records) for the model as it is now.

        `generator`: answers lm-eval's ``generate_until`` requests instead of the model (the vLLM
        engine's row); log-likelihood requests always go to the model."""
        from lm_eval import simple_evaluate

        _quiet()
        os.environ["TQDM_DISABLE"] = "1"  # lm-eval draws a bar per request type; ours covers the row
        if self._lm is None:
            self._lm = _lm_class()(pretrained=model, tokenizer=tokenizer, batch_size=self.batch_size)
        self._lm._model = model  # the same object for every row; peft switches the adapter inside it
        self._lm.generator = generator
        try:
            out = simple_evaluate(model=self._lm, tasks=self.tasks, num_fewshot=self.num_fewshot, limit=self.limit,
                                  task_manager=self.manager, use_cache=None, cache_requests=False, log_samples=True,
                                  bootstrap_iters=0, verbosity="ERROR", random_seed=0, numpy_random_seed=1234,
                                  torch_random_seed=1234, fewshot_random_seed=1234)
        except (FileNotFoundError, ConnectionError, OSError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise LtmError(f"benchmarks {', '.join(self.tasks)}: data not available ({first}) — "
                           "run where the datasets are cached, or use local tasks (see README)") from None
        metrics = {}
        for task, values in out["results"].items():
            metrics[task] = {k.split(",")[0]: float(v) for k, v in values.items()
                             if isinstance(v, (int, float)) and not isinstance(v, bool) and "stderr" not in k}
        groups = task_groups(out.get("group_subtasks") or {})
        records = []
        for task, samples in out.get("samples", {}).items():
            for sample in samples:
                records.append({"task": task, "doc_id": sample["doc_id"], "target": str(sample.get("target")),
                                "filter": sample.get("filter", "none"), "groups": groups.get(task, []),
                                "logprobs": [round(float(r[0]), 6) for r in sample.get("filtered_resps", [])
                                             if isinstance(r, (list, tuple)) and r and isinstance(r[0], (int, float))],
                                **sample_metrics(sample)})
        return metrics, records


def _lm_class():
    """lm-eval's HFLM, with generation handed to another engine when one is set (testbench.backend: vllm)."""
    from lm_eval.models.huggingface import HFLM

    class RowLM(HFLM):
        generator = None

        def generate_until(self, requests, disable_tqdm: bool = False):
            if self.generator is None:
                return super().generate_until(requests, disable_tqdm=disable_tqdm)
            return self.generator(requests)

    return RowLM


def sample_metrics(sample: dict) -> dict[str, float]:
    """Every numeric per-item metric lm-eval computed (acc, acc_norm, exact_match, f1, ...)."""
    names = sample.get("metrics") or [k for k in ("acc", "acc_norm", "exact_match") if k in sample]
    out = {}
    for name in names:
        value = sample.get(name)
        if isinstance(value, bool) or isinstance(value, (int, float)):
            out[name] = float(value)
    return out


def task_groups(group_subtasks: dict[str, list[str]]) -> dict[str, list[str]]:
    """{task: every group above it}: MMLU's 57 subtasks all belong to `mmlu` (and its four categories)."""
    parents: dict[str, set[str]] = {}
    for group, children in group_subtasks.items():
        for child in children:
            parents.setdefault(child, set()).add(group)

    def above(name: str, seen: frozenset = frozenset()) -> set[str]:
        out = set()
        for parent in parents.get(name, ()):
            if parent not in seen:
                out |= {parent} | above(parent, seen | {name})
        return out

    return {name: sorted(above(name)) for name in parents if name not in group_subtasks}


def cache_key(manager, tasks: list[str], limit: int | None, num_fewshot: int) -> str:
    """The tasks and settings, and a hash of what their result depends on: each task's config
    (its YAML with includes resolved), the YAML files, the local data and ``!function`` modules
    they name, and the lm-eval version. Editing a task or its data, or upgrading lm-eval, gives
    a new key, so the old score is not reused. Hub datasets are covered by name and revision
    only (their content is not local)."""
    import lm_eval

    configs, files = _task_dependencies(manager, tasks)
    digests = filehash.file_digests(sorted(files))
    spec = {"lm_eval": getattr(lm_eval, "__version__", None), "configs": configs,
            "files": {str(path): digest for path, digest in sorted(digests.items())}}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"bench:{','.join(tasks)}:{limit}:{num_fewshot}:{digest}"


def _entry_fields(entry) -> tuple[str, Path | None, dict | None, list]:
    """(kind, YAML path, resolved config, member names) of a TaskManager index entry; lm-eval
    0.4.9+ has ``Entry`` objects, older versions dicts with ``type``/``yaml_path``/``task``."""
    if isinstance(entry, dict):
        kind, path = str(entry.get("type", "task")), entry.get("yaml_path")
        members = entry.get("task") if kind == "tag" else []
        return kind, Path(path) if isinstance(path, (str, Path)) else None, None, list(members or [])
    kind = getattr(getattr(entry, "kind", None), "name", "task").lower()
    path = getattr(entry, "yaml_path", None)
    members = sorted(getattr(entry, "tags", None) or []) if kind == "tag" else []
    return kind, Path(path) if path else None, getattr(entry, "cfg", None), members


def _task_dependencies(manager, tasks: list[str]) -> tuple[dict, set[Path]]:
    """Configs of the named tasks and, recursively, of a group's or tag's members; local files they read."""
    index = manager.task_index
    configs: dict[str, object] = {}
    files: set[Path] = set()
    todo: list = list(tasks)
    while todo:
        spec = todo.pop()
        if isinstance(spec, dict):  # a task written inline in a group's `task:` list
            kind, path, cfg, members = ("group" if "group" in spec else "task"), None, spec, []
            name = json.dumps(spec, sort_keys=True, default=str)
        else:
            name = str(spec)
            if name in configs:
                continue
            entry = index.get(name)
            if entry is None:  # a name lm-eval resolves otherwise (e.g. a YAML path)
                configs[name] = None
                if Path(name).is_file():
                    files.add(Path(name).resolve())
                continue
            kind, path, cfg, members = _entry_fields(entry)
        configs[name] = {"kind": kind, "config": cfg, "members": members}
        if path is not None and path.is_file():
            files.add(path.resolve())
        todo.extend(members)
        if isinstance(cfg, dict):
            if kind == "group" and isinstance(cfg.get("task"), list):
                todo.extend(cfg["task"])
            files |= _local_files(cfg)
    return configs, files


def _local_files(cfg: dict) -> set[Path]:
    """Local data (``dataset_kwargs.data_files``/``data_dir``, a local ``dataset_path``) and the
    Python modules of ``!function`` entries (lm-eval leaves them as ``<dir>/<module>.<function>``)."""
    found: set[Path] = set()
    kwargs = cfg.get("dataset_kwargs") if isinstance(cfg.get("dataset_kwargs"), dict) else {}
    names = list(_strings(kwargs.get("data_files"))) + list(_strings(kwargs.get("data_dir")))
    if isinstance(cfg.get("dataset_path"), str):
        names.append(cfg["dataset_path"])
    for name in names:  # lm-eval (datasets) reads relative paths from the current directory
        for match in glob.glob(os.path.expanduser(name), recursive=True) or [name]:
            path = Path(match)
            if path.is_file():
                found.add(path.resolve())
            elif path.is_dir():
                found |= {p.resolve() for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")}
    for value in _strings(cfg):
        if "/" in value and "." in value.rsplit("/", 1)[-1]:
            module = Path(value.rsplit(".", 1)[0] + ".py")
            if module.is_file():
                found.add(module.resolve())
    return found


def _strings(value):
    """Every string inside a nested config value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
