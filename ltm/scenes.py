"""Reasoning scenes: the YAML format, loading and validation with file:line errors.

A scene file holds a list of items under ``scenes:``. Each item is a small test the model
sits: a context, a prompt the model continues, and what counts as right. Three kinds:

* ``choice``: the model's log-likelihood of each choice after the prompt picks its answer
  (the same rule lm-evaluation-harness uses for multiple choice);
* ``short``: greedy generation, matched against ``answer`` (prefix, case-insensitive) or
  ``pattern`` (a regular expression);
* ``open``: generation graded by the judge against the item's ``principles``.

Items also say which of the five measures they feed (``depth``, ``consistency``,
``pressure``, ``novelty``, ``compression``; ``general`` otherwise) and carry what that
measure needs: ``steps`` for depth, ``group`` for consistency, ``variant_of``/``variant``
for pressure, ``max_words`` for compression. ``follows`` links a scene to an earlier one
whose context it continues (a chain). docs/scenes.md is the reference.

Everything is checked before any model is loaded, and all problems of all files are
reported at once, each as ``file:line: key: problem — fix``.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError, LtmError
from .schema import Problems, build
from .yamlio import load_yaml

KINDS = ("choice", "short", "open")
MEASURES = ("depth", "consistency", "pressure", "novelty", "compression", "general")
VARIANTS = ("swapped", "unseen_names", "distracting", "conflicting", "distorted", "paraphrase")

# Used when an open item gives no principles of its own.
DEFAULT_PRINCIPLES = {
    "novelty": ["The continuation fits the scene and its characters.",
                "It takes the scene somewhere unexpected instead of repeating what was said.",
                "It is coherent: each sentence follows from the one before."],
    "compression": ["The answer states the central tension of the scene.",
                    "It is brief and loses nothing essential.",
                    "It uses plain words, no filler."],
}


@dataclass
class Scene:
    id: str = field(metadata={"help": "unique name of the item across all scene files"})
    kind: Literal["choice", "short", "open"] = field(metadata={"help": "how the answer is scored"})
    prompt: str = field(metadata={"help": "text the model continues (after the context)"})
    measure: Literal["depth", "consistency", "pressure", "novelty", "compression", "general"] = field(
        default="general", metadata={"help": "which reasoning measure the item feeds"})
    context: str = field(default="", metadata={"help": "text shown before the prompt"})
    choices: list[str] = field(default_factory=list, metadata={"help": "choice: the options, scored after a space"})
    answer: str | list[str] | None = field(default=None, metadata={
        "help": "choice: the right choice; short: accepted answer(s); open: optional reference answer"})
    pattern: str | None = field(default=None, metadata={"help": "short: regular expression the answer must match"})
    steps: int | None = field(default=None, metadata={"help": "depth: logical steps needed", "min": 1})
    group: str | None = field(default=None, metadata={"help": "consistency: items that must agree"})
    follows: str | None = field(default=None, metadata={"help": "id of the scene whose context this one continues"})
    variant_of: str | None = field(default=None, metadata={"help": "pressure: id of the clean item this distorts"})
    variant: Literal["swapped", "unseen_names", "distracting", "conflicting", "distorted", "paraphrase"] | None = field(
        default=None, metadata={"help": "pressure: what was changed"})
    principles: list[str] = field(default_factory=list, metadata={"help": "open: what the judge grades against"})
    max_words: int | None = field(default=None, metadata={"help": "compression: word limit of the answer", "min": 1})
    tags: list[str] = field(default_factory=list, metadata={"help": "free labels, e.g. the corpus the item aims at"})
    scorer: str | None = field(default=None, metadata={
        "help": "short: score the generated answer with this scorer instead of matching `answer` (`reasoning_gym:<dataset>`)"})
    family: str | None = field(default=None, metadata={"help": "generated items: the scene family that made it (docs/scenes.md)"})
    level: int | None = field(default=None, metadata={"help": "generated items: the family's difficulty level (1 = easiest)", "min": 1})
    difficulty: dict[str, Any] = field(default_factory=dict, metadata={"help": "generated items: the family's knob settings"})
    seed: int | None = field(default=None, metadata={"help": "generated items: the generator's seed"})
    source: str = field(default="", init=False, repr=False, compare=False)

    def check(self):
        if self.kind == "choice":
            if len(self.choices) < 2:
                yield "choices", "a choice item needs at least two choices — add them under `choices:`"
            if self.answer is None:
                yield "answer", "missing answer — add `answer:` naming one of the choices"
            elif not isinstance(self.answer, str) or self.answer not in self.choices:
                yield "answer", f"{self.answer!r} is not among the choices — make `answer` one of {self.choices}"
            if len(set(self.choices)) != len(self.choices):
                yield "choices", "the same choice is listed twice — remove the repeat"
        elif self.kind == "short":
            if self.answer is None and self.pattern is None:
                yield "answer", "missing answer — add `answer:` (text or list of texts) or `pattern:` (a regex)"
            if self.choices:
                yield "choices", "only `choice` items have choices — set `kind: choice` or remove them"
        elif self.kind == "open" and self.choices:
            yield "choices", "only `choice` items have choices — set `kind: choice` or remove them"
        if self.scorer is not None:
            if self.kind != "short":
                yield "scorer", "only `short` items have a scorer — set `kind: short` or remove it"
            elif not self.scorer.startswith("reasoning_gym:"):
                yield "scorer", f"unknown scorer {self.scorer!r} — use `reasoning_gym:<dataset>`"
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                yield "pattern", f"invalid regular expression ({exc}) — fix or quote it"
        if self.measure == "depth" and self.steps is None:
            yield "steps", "a depth item needs `steps:` (how many logical steps it takes)"
        if self.measure == "consistency" and self.group is None:
            yield "group", "a consistency item needs `group:` naming the items it must agree with"
        if self.measure == "compression" and self.max_words is None:
            yield "max_words", "a compression item needs `max_words:` (its word limit)"
        if self.measure in ("novelty", "compression") and self.kind != "open":
            yield "kind", f"{self.measure} items are judged — set `kind: open`"
        if (self.variant is None) != (self.variant_of is None):
            yield "variant", "`variant` and `variant_of` go together — give both or neither"
        if not str(self.prompt or "").strip():
            yield "prompt", "empty prompt — write the text the model should continue"

    @property
    def answers(self) -> list[str]:
        if self.answer is None:
            return []
        return [self.answer] if isinstance(self.answer, str) else list(self.answer)

    def judge_principles(self) -> list[str]:
        return self.principles or DEFAULT_PRINCIPLES.get(self.measure, DEFAULT_PRINCIPLES["novelty"])


@dataclass
class SceneFile:
    scenes: list[Scene] = field(metadata={"help": "the items of this file"})
    description: str = field(default="", metadata={"help": "what the file tests"})


@dataclass
class SceneSet:
    """All items of a scene folder, in file order, with each file's content hash."""

    items: list[Scene]
    file_hashes: dict[str, str]
    linked: list[Scene] | None = None  # every scene, when `items` is a subset: chains still resolve
    template: object = None  # (scene, text) -> text the model sees, e.g. an instruct model's chat template

    def by_id(self) -> dict[str, Scene]:
        index = self.__dict__.get("_index")
        if index is None:
            index = self.__dict__["_index"] = {s.id: s for s in (self.linked or self.items)}
        return index

    def subset(self, keep) -> SceneSet:
        return SceneSet([s for s in self.items if keep(s)], self.file_hashes, self.linked or self.items, self.template)

    def with_template(self, template) -> SceneSet:
        return SceneSet(self.items, self.file_hashes, self.linked, template)

    def full_context(self, scene: Scene) -> str:
        """The context the model sees: the chain of earlier scenes' contexts, then this one's."""
        parts, seen, here = [], set(), scene
        index = self.by_id()
        while here is not None and here.id not in seen:
            seen.add(here.id)
            if here.context.strip():
                parts.append(here.context.strip())
            here = index.get(here.follows) if here.follows else None
        return " ".join(reversed(parts))

    def input_text(self, scene: Scene) -> str:
        context = self.full_context(scene)
        text = f"{context} {scene.prompt.strip()}" if context else scene.prompt.strip()
        return self.template(scene, text) if self.template else text

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.file_hashes):
            digest.update(f"{name}\0{self.file_hashes[name]}\n".encode())
        return digest.hexdigest()


def scene_files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise LtmError(f"{path}: no such scene file or folder — check `testbench.scenes` in the config")
    files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files:
        raise LtmError(f"{path}: no .yaml scene files here — add one (see docs/scenes.md)")
    return files


def load_scenes(path: str | Path | list) -> SceneSet:
    """Load every scene file under ``path`` (or under each of a list of paths: ids are unique
    across all of them); raise one ConfigError listing all problems."""
    roots = [Path(p) for p in path] if isinstance(path, (list, tuple)) else [Path(path)]
    items: list[Scene] = []
    hashes: dict[str, str] = {}
    problems_all: list[str] = []
    first_seen: dict[str, str] = {}
    located: list[tuple[Scene, Problems, tuple]] = []
    for root, file in [(r, f) for r in roots for f in scene_files(r)]:
        data, lines = load_yaml(file)
        name = str(file.name if root.is_file() else file.relative_to(root))
        hashes[name if len(roots) == 1 else f"{root}/{name}"] = hashlib.sha256(file.read_bytes()).hexdigest()
        problems = Problems(str(file), lines)
        if data is None:
            problems.add((), "empty scene file — add a `scenes:` list (see docs/scenes.md)")
        elif isinstance(data, dict) and isinstance(data.get("scenes"), list):
            # Build items one by one, so one bad item does not hide the others' problems.
            raw = dict(data)
            raw_items = raw.pop("scenes")
            build(SceneFile, {**raw, "scenes": []}, problems)
            for n, entry in enumerate(raw_items):
                where = ("scenes", n)
                scene = build(Scene, entry, problems, where)
                scene.source = problems.where(where)
                if scene.id is None:
                    continue
                scene.id = str(scene.id)
                if scene.id in first_seen:
                    problems.add(where + ("id",), f"duplicate id {scene.id!r} (first at {first_seen[scene.id]}) — rename one")
                    continue
                first_seen[scene.id] = scene.source
                items.append(scene)
                located.append((scene, problems, where))
        else:
            build(SceneFile, data, problems)
        problems_all.extend(problems.items)
    ids = set(first_seen)
    index = {scene.id: scene for scene in items}
    for scene, problems, where in located:
        before = len(problems.items)
        for key in ("follows", "variant_of"):
            target = getattr(scene, key)
            if target is not None and str(target) not in ids:
                hint = difflib.get_close_matches(str(target), sorted(ids), n=1)
                fix = f"did you mean {hint[0]!r}?" if hint else "name an existing scene id"
                problems.add(where + (key,), f"links to unknown scene {target!r} — {fix}")
        if scene.follows is not None and _in_cycle(scene, index):
            problems.add(where + ("follows",), "`follows` links form a loop — one scene of the chain must start it")
        problems_all.extend(problems.items[before:])
    if problems_all:
        raise ConfigError(problems_all)
    return SceneSet(items=items, file_hashes=hashes)


def _in_cycle(scene: Scene, index: dict[str, Scene]) -> bool:
    seen, here = set(), scene
    while here is not None and here.follows is not None:
        if here.id in seen:
            return True
        seen.add(here.id)
        here = index.get(str(here.follows))
    return False
