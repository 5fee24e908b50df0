"""Generates the shipped reasoning scenes in ``scenes/`` from a seed.

The scenes probe what the five teaching corpora (`ltm.demo.teaching`) teach, with the same
names, relations and sentence shapes, but drawn from their own random streams, so no item
repeats a training sentence: every generated sentence is checked against the conclusions of
the sample corpora and an item that would copy one is drawn again (`scene_tools`).

The design notes shape the items: an adapter trained on transitive chains can learn the
shortcut "the first-named goes first in the conclusion". So depth items are balanced (half
of them the shortcut gets wrong), and every clean pressure item has variants that break it:
swapped premise order, names the model never saw, a distracting sentence, a conflicting
claim marked as untrue, a distorted copy and a paraphrase.

    python -m ltm.demo.sample_scenes                # rewrites scenes/*.yaml (same seed, same bytes)
    python -m ltm.demo.sample_scenes --reference    # prints the scene field table of docs/scenes.md
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Union

from ..scene_yaml import render
from .scene_tools import TEACHING, _Guard, _sample_corpus_texts, corpus_conclusions
from .scenes_answers import open_scenes, short_scenes
from .scenes_consistency import consistency_scenes
from .scenes_depth import depth_scenes
from .scenes_pressure import pressure_scenes

SEED = 4321  # not the corpora's seed (ltm.demo.words.SEED): the scenes come from other random streams

FILES: dict[str, tuple[str, Callable[[random.Random, _Guard], list[dict]]]] = {
    "depth.yaml": ("Depth: transitive chains of 2, 3 and 4 steps (the concluded pair is never adjacent, and half of "
                   "each step count defeats the first-named shortcut) and syllogisms of 1 and 2 steps (half of "
                   "each with a negative conclusion).",
                   depth_scenes),
    "pressure.yaml": ("Pressure: clean transitive chains the first-named shortcut gets right, each with variants "
                      "(swapped premises, unseen names, a distracting sentence, a conflicting claim marked untrue, "
                      "a distorted copy, a paraphrase), and clean syllogisms with the same kinds of variants "
                      "(unseen category words; distractions that hold a 'no' or 'not'); the facts and the answer "
                      "stay the same.", pressure_scenes),
    "consistency.yaml": ("Consistency: groups asking one fact three ways (more, less, superlative), who-holds-what "
                         "chains whose scenes continue each other with `follows`, and syllogisms asked after "
                         "two leads and as 'It is false that' (the right choice changes place and sentence, so "
                         "no fixed preference answers a whole group).", consistency_scenes),
    "short.yaml": ("Short answers: who holds the object (a name) and arithmetic stories (a number).", short_scenes),
    "open.yaml": ("Judged answers: novelty (continue the scene unexpectedly) and compression (the tension in a few words).",
                  open_scenes),
}


def generate_scenes(seed: int = SEED) -> dict[str, str]:
    """File name -> YAML text of every shipped scene file."""
    guard = _Guard(corpus_conclusions(_sample_corpus_texts()))
    out: dict[str, str] = {}
    ids: set[str] = set()
    for name, (description, make) in FILES.items():
        items = make(random.Random(f"{seed}:scenes:{name.removesuffix('.yaml')}"), guard)
        for item in items:
            assert item["id"] not in ids, item["id"]
            ids.add(item["id"])
            assert item["tags"] and all(t in TEACHING for t in item["tags"]), item
        out[name] = render(description, items)
    return out


# ------------------------------------------------------------------ reference table
def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        args = [f"`{a}`" for a in typing.get_args(tp)]
        return ", ".join(args[:-1]) + " or " + args[-1]
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}s"
    if origin is dict:
        return "mapping"
    return {str: "text", int: "integer", float: "number", bool: "true/false"}.get(tp, getattr(tp, "__name__", str(tp)))


def scene_reference_markdown() -> str:
    """The field table of docs/scenes.md, generated from `ltm.scenes.Scene` and its help texts."""
    from ..scenes import Scene

    hints = typing.get_type_hints(Scene)
    lines = ["| field | type | meaning |", "| --- | --- | --- |"]
    for f in dataclasses.fields(Scene):
        if f.name == "source" or not f.init:
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        kind = _type_name(hints[f.name])
        if "min" in f.metadata:
            kind += f", at least {f.metadata['min']}"
        if required:
            kind += ", **required**"
        elif f.default is not dataclasses.MISSING and f.default not in (None, ""):
            kind += f", default `{f.default}`"
        lines.append(f"| `{f.name}` | {kind} | {f.metadata.get('help', '')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ltm.demo.sample_scenes", description="Regenerate the shipped reasoning scenes.")
    parser.add_argument("--out", default="scenes", help="folder to write the scene files to (default: scenes)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default: {SEED})")
    parser.add_argument("--reference", action="store_true", help="print the scene field table of docs/scenes.md and exit")
    args = parser.parse_args(argv)
    if args.reference:
        print(scene_reference_markdown())
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in generate_scenes(args.seed).items():
        (out / name).write_bytes(text.encode("utf-8"))
        print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
