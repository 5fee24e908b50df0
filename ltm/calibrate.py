"""`ltm scenes calibrate`: pick each scene family's difficulty for the base under test.

Why: a ranking shows a gain only where the base is neither at chance nor at the ceiling, and
where that is depends on the base: a 135M model and a 14B one need different chain lengths.
So the base alone sits a small probe at every level of each family (easiest first), and the
level where it stands in the sensitive band is chosen. The band is measured on the scale from
chance to perfect, ``normalized = (accuracy - chance) / (1 - chance)``, so a two-way and a
four-way family are judged alike; the default band [0.25, 0.70] leaves room both for a gain
and for a loss. Of the levels in the band, the one nearest the band's middle wins (the
harder on a tie); when none is in it, the nearest level, and the reason says so.

The final set is generated at the chosen level from other seeds, so no probe item is ever
scored, and the base sits it once more: ``calibration.json`` records the probe, the choice,
why, and where the base stands on the final items. The set is cached under
``runs/calibration/<base fingerprint>-<key>/`` (the key covers the families, item counts,
band, seed and the generators' version), and ``ltm eval``/``sweep`` read it from there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from pathlib import Path

from . import atomic, basemodel
from .errors import LtmError
from .keys import version
from .progress import progress_bar

FAMILIES_VERSION = version("calibration")  # ltm/keys.py: every cached artifact, its key and its code


def calibration_key(config) -> str:
    tb = config.testbench
    spec = {"families": sorted(tb.families), "items": tb.family_items, "probe": tb.calibration.probe_items,
            "band": list(tb.calibration.band), "seed": tb.calibration.seed, "chat_template": config.base.chat_template,
            "v": FAMILIES_VERSION}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def calibrated_dir(config, ref=None) -> Path:
    ref = ref or basemodel.resolve(config.base.model, config.base.revision)
    return config.runs_path / "calibration" / f"{ref.fingerprint}-{calibration_key(config)}"


def find_calibration(config, ref=None) -> Path | None:
    """The calibrated folder of this config's families for the base, or None when there is none yet."""
    _known_families(config)
    folder = calibrated_dir(config, ref)
    return folder if (folder / "calibration.json").exists() else None


def calibrated_scenes_path(config) -> Path | None:
    """The calibrated family scenes for this config's base, or None when `testbench.families` is empty."""
    if not config.testbench.families:
        return None
    folder = find_calibration(config)
    if folder is None:
        raise LtmError(f"{config.source}: testbench.families {config.testbench.families} have no calibration for base "
                       f"{config.base.model!r} — run `ltm scenes calibrate --config {config.source}` first")
    return folder


def stand_in_scenes(config) -> list:
    """Items of the same families and counts as a calibrated set, at each family's middle level:
    what `ltm estimate` counts before the base has been calibrated (said in its output)."""
    from . import families as registry
    from .scenes import Scene

    _known_families(config)
    items = []
    for name in config.testbench.families:
        family = registry.get(name)
        middle = (len(family.levels) + 1) // 2
        items += [Scene(**item) for item in registry.generate(family, config.testbench.family_items, seed=0, level=middle)]
    return items


def _known_families(config) -> None:
    """Load the user's family files, then check every named family exists (one line if not)."""
    from . import families as registry

    registry.load_files([config.path(p) for p in config.testbench.family_files])
    for name in config.testbench.families:
        registry.get(name)


def normalized(accuracy: float, chance: float) -> float:
    return (accuracy - chance) / (1.0 - chance) if chance < 1.0 else 0.0


def choose(probed: list[dict], band: list[float]) -> tuple[dict, str]:
    """The level to use and why, from the probe's rows ({level, normalized, ...}), easiest first."""
    low, high = band
    middle = (low + high) / 2
    inside = [p for p in probed if low <= p["normalized"] <= high]
    if inside:
        best = min(inside, key=lambda p: (abs(p["normalized"] - middle), -p["level"]))
        return best, f"in the band [{low:.2f}, {high:.2f}] (normalized {best['normalized']:.2f}), nearest its middle"
    if all(p["normalized"] > high for p in probed):
        best = probed[-1]
        return best, f"above the band even at the hardest level probed (normalized {best['normalized']:.2f}): the base is near the ceiling here"
    if all(p["normalized"] < low for p in probed):  # the easiest level: where teaching has the most room to show
        best = probed[0]
        top = max(p["normalized"] for p in probed)
        return best, (f"below the band at every level (best normalized {top:.2f}): this family is beyond the base; "
                      "its easiest level is kept")
    best = min(probed, key=lambda p: min(abs(p["normalized"] - low), abs(p["normalized"] - high)))
    return best, f"no level in the band; the nearest edge (normalized {best['normalized']:.2f})"


class _Scorer:
    """The base alone, scoring family items (choice by log-likelihood, short by generation)."""

    def __init__(self, config):
        from .testbench.loglik import model_max_length
        from .testbench.rows import LoadedBase
        from .testbench.run import _chat_template

        self.config = config
        basemodel.quiet_bitsandbytes()
        self.ref = basemodel.resolve(config.base.model, config.base.revision)
        self.tokenizer = basemodel.load_tokenizer(config.base.model, config.base.revision)
        self.base = LoadedBase.of_config(self.ref, config.base)
        self._template = _chat_template
        self.max_length = model_max_length(self.base.model)

    def too_long(self, items: list[dict]) -> bool:
        """Items whose input and longest choice do not fit the model's context would be cut from the left."""
        longest = max(len(self.tokenizer(f"{i.get('context', '')} {i['prompt']} {max(i.get('choices') or [''], key=len)}")
                          ["input_ids"]) for i in items)
        return longest > self.max_length

    def accuracy(self, items: list[dict]) -> tuple[float, float, list[dict]]:
        """(accuracy, chance, records) of the base on these items."""
        import torch

        from .scenes import Scene, SceneSet
        from .testbench.items import score_choices, score_short
        from .testbench.sensitivity import item_chance

        scenes = [Scene(**i) for i in items]
        scene_set = self._template(self.config, SceneSet(scenes, {}), self.tokenizer)
        tb = self.config.testbench
        with torch.inference_mode():
            records = score_choices(self.base.model, self.tokenizer, scene_set, [s for s in scenes if s.kind == "choice"],
                                    tb.batch_size, tb.batch_tokens)
            short = [s for s in scenes if s.kind == "short"]
            if short:
                records += score_short(self.base.model, self.tokenizer, scene_set, short, tb.decoding, tb.batch_size)
        scores = [float(r["score"]) for r in records]
        chance = [item_chance(r) or 0.0 for r in records]
        return sum(scores) / len(scores), sum(chance) / len(chance), records


CONFIRMATIONS = 3  # most levels probed a second time before one is kept


def _confirmed_choice(scorer, family, probed: list[dict], probe_texts: set, cal, say) -> tuple[dict, str]:
    """Choose, then probe the chosen level again with as many fresh probe items and pool them:
    a 24-item probe of a two-way family has a standard error of about 0.2 on the normalized
    scale, enough to pick a level by luck (measured: docs/benchmarks.md). A level that leaves
    the band on the pooled items gives way to the next choice."""
    from . import families as registry

    confirmed: set[int] = set()
    for _ in range(CONFIRMATIONS):
        chosen, why = choose(probed, cal.band)
        if chosen["level"] in confirmed or not why.startswith("in the band"):
            return chosen, why
        items = registry.clean_items(family, cal.probe_items, seed=cal.seed + 500_009, level=chosen["level"],
                                     avoid=probe_texts)
        probe_texts |= {registry.item_text(i) for i in items}
        accuracy, chance, _ = scorer.accuracy(items)
        n, m = chosen["items"], len(items)
        chosen["accuracy"] = round((chosen["accuracy"] * n + accuracy * m) / (n + m), 4)
        chosen["chance"] = round((chosen["chance"] * n + chance * m) / (n + m), 4)
        chosen["items"] = n + m
        chosen["normalized"] = round(normalized(chosen["accuracy"], chosen["chance"]), 4)
        chosen["confirmed"] = True
        confirmed.add(chosen["level"])
        say(f"  {family.name} L{chosen['level']} again: {m} more items, pooled accuracy {chosen['accuracy']:.2f} "
            f"(normalized {chosen['normalized']:.2f})")
    return choose(probed, cal.band)


def calibrate(config, families: list[str] | None = None, force: bool = False, quiet: bool = False) -> Path:
    """Probe, choose, generate the final set, check it; return the calibrated folder."""
    from . import families as registry
    from .scene_yaml import render

    if families:
        config.testbench.families = list(families)
    names = config.testbench.families
    if not names:
        raise LtmError(f"{config.source or 'the config'}: no scene families to calibrate — set testbench.families "
                       "(see `ltm scenes list`) or pass --families")
    _known_families(config)
    folder = calibrated_dir(config)
    report_path = folder / "calibration.json"
    if report_path.exists() and not force:
        if not quiet:
            print(f"calibration: cached at {folder} (--force to redo)")
            print_report(json.loads(report_path.read_text(encoding="utf-8")))
        return folder
    tb, cal = config.testbench, config.testbench.calibration
    low, high = cal.band
    say = (lambda *a: None) if quiet else print
    started = time.perf_counter()
    scorer = _Scorer(config)
    say(f"calibrating {len(names)} families on {config.base.model} ({cal.probe_items} probe items per level, "
        f"band {low:.2f}–{high:.2f} of the way from chance to perfect)")
    report = {"base": basemodel.describe(scorer.ref), "band": [low, high], "probe_items": cal.probe_items,
              "family_items": tb.family_items, "seed": cal.seed, "key": calibration_key(config), "families": {}}
    files: dict[str, str] = {}
    bar = progress_bar("calibrating families", total=len(names)) if not quiet else contextlib.nullcontext(
        lambda n=1, **fields: None)
    with bar as advance:
        for name in names:
            family = registry.get(name)
            probed, probe_texts = [], set()
            below = 0
            for level in range(1, len(family.levels) + 1):
                items = registry.clean_items(family, cal.probe_items, seed=cal.seed, level=level)
                if scorer.too_long(items):
                    say(f"  {name} L{level}: longer than the model's context ({scorer.max_length} tokens) — stop here")
                    break
                probe_texts |= {registry.item_text(i) for i in items}
                accuracy, chance, _ = scorer.accuracy(items)
                row = {"level": level, "knobs": family.settings(level)[1], "items": len(items), "accuracy": round(accuracy, 4),
                       "chance": round(chance, 4), "normalized": round(normalized(accuracy, chance), 4)}
                probed.append(row)
                say(f"  {name} L{level}: accuracy {accuracy:.2f} (chance {chance:.2f}, normalized {row['normalized']:.2f})")
                below = below + 1 if row["normalized"] < low else 0
                if below >= 2:  # harder levels only go further down
                    break
            if not probed:  # the other families still count; this one says why it has no items
                why = (f"even its easiest items do not fit {config.base.model}'s context of {scorer.max_length} tokens — "
                       "left out; remove it from testbench.families for this base")
                report["families"][name] = {"source": family.source, "probed": [], "level": None, "why": why, "final": None}
                say(f"  warning: {name}: {why}")
                advance(1, family=name)
                continue
            chosen, why = _confirmed_choice(scorer, family, probed, probe_texts, cal, say)
            final = registry.generate(family, tb.family_items, seed=cal.seed + 1_000_003, level=chosen["level"],
                                      avoid=probe_texts)
            clean = [i for i in final if not i.get("variant_of")]
            accuracy, chance, _ = scorer.accuracy(clean)
            score = normalized(accuracy, chance)
            report["families"][name] = {
                "source": family.source, "probed": probed, "level": chosen["level"], "knobs": chosen["knobs"], "why": why,
                "final": {"items": len(final), "clean_items": len(clean), "accuracy": round(accuracy, 4),
                          "chance": round(chance, 4), "normalized": round(score, 4), "in_band": low <= score <= high}}
            say(f"  {name}: level {chosen['level']} — {why}; final {len(clean)} fresh items: accuracy {accuracy:.2f} "
                f"(normalized {score:.2f}, {'in' if low <= score <= high else 'outside'} the band)")
            files[f"{name}.yaml"] = render(f"Scene family {name} at level {chosen['level']} ({family.about}), "
                                           f"calibrated for {config.base.model}.", final,
                                           header="# Written by `ltm scenes calibrate` (ltm/calibrate.py); calibration.json says why.")
            advance(1, family=name)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["calibrated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    for name, text in files.items():
        atomic.write_text(folder / name, text)
    atomic.write_json(report_path, report)
    say(f"calibration: {folder} ({report['seconds']:.0f} s)")
    return folder


def print_report(report: dict) -> None:
    for name, fam in report["families"].items():
        final = fam["final"]
        if final is None:
            print(f"  {name}: {fam['why']}")
            continue
        print(f"  {name}: level {fam['level']} {fam['knobs']} — {fam['why']}; final accuracy {final['accuracy']:.2f} "
              f"(chance {final['chance']:.2f}, normalized {final['normalized']:.2f}, "
              f"{'in' if final['in_band'] else 'outside'} the band)")
