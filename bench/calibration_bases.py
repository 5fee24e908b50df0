"""Does `ltm scenes calibrate` move a family to a harder level when the base is stronger at it?

The bases this machine has (ltm-tiny, SmolLM2-135M) stand at level 1 or below on most
families, so their calibrations agree. To see the knob move, this script makes a base that is
stronger at one skill: it trains a LoRA adapter of the config's base on a text written by a
family itself (items of levels 1..K with their answers, from seeds the calibration never uses),
merges it into the weights with peft's ``merge_and_unload`` and saves a plain Hugging Face
folder — what a user's own fine-tuned base is — then calibrates that folder and the original
base on the same families and prints the levels side by side.

    python bench/calibration_bases.py --config experiments/real-shelf.yaml --family who_holds transitive \\
        --levels 1 2 3 4 5 --families who_holds transitive --steps 150

Figures: docs/benchmarks.md, "Scene families calibrated per base".
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def teaching_text(family_names: list[str], levels: list[int], per_level: int, seed: int) -> str:
    """One line per item: the context, the prompt and the right answer (the families' own format)."""
    from ltm import families

    lines = []
    for family in map(families.get, family_names):
        for level in levels:
            if level > len(family.levels):
                continue
            for item in families.clean_items(family, per_level, seed=seed, level=level):
                lines.append(f"{item.get('context', '')} {item['prompt']} {item['answer']}".strip())
    random.Random(seed).shuffle(lines)
    return "\n".join(lines) + "\n"


def merged_base(config, adapter: Path, out: Path) -> Path:
    """The base with the adapter's weights added in, saved as a plain folder (fp32 on CPU)."""
    from peft import PeftModel

    from ltm import basemodel

    if (out / "config.json").exists():
        return out
    ref = basemodel.resolve(config.base.model, config.base.revision)
    model = basemodel.load_model(ref, "none", config.base.dtype, config.base.trust_remote_code,
                                 config.base.attn_implementation)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    basemodel.load_tokenizer(config.base.model, config.base.revision).save_pretrained(out)
    return out


def main() -> int:
    from ltm.calibrate import calibrate
    from ltm.config import apply_overrides, load_config
    from ltm.train import train

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--family", nargs="+", required=True, help="the families whose text teaches the stronger base")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--per-level", type=int, default=400, help="teaching items per level")
    parser.add_argument("--families", nargs="+", required=True, help="families to calibrate on both bases")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=777_000, help="teaching seed (calibration uses 0 and 1,000,003)")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()

    config = apply_overrides(load_config(args.config), args.set)
    config.testbench.families = list(args.families)
    work = config.runs_path / "bench-calibration-bases"
    corpus = work / "corpora" / f"teach_{'_'.join(args.family)}.txt"
    corpus.parent.mkdir(parents=True, exist_ok=True)
    corpus.write_text(teaching_text(args.family, args.levels, args.per_level, args.seed), encoding="utf-8")

    started = time.perf_counter()
    teach = copy.deepcopy(config)
    teach.corpora.root = str(corpus.parent)
    teach.corpora.include = []
    teach.corpora.shelf = False
    teach.training.max_steps = args.steps
    result = train(teach, [corpus.stem], track=False)[0]
    trained = time.perf_counter() - started
    print(f"adapter {result.path}: loss {result.manifest['first_loss']:.3f} → {result.manifest['last_loss']:.3f} "
          f"in {trained:.0f} s")
    folder = merged_base(config, result.path, work / f"base-{config.base.model}+{corpus.stem}-{args.steps}")

    reports = {}
    for label, base in ((config.base.model, config.base.model), (f"{config.base.model} + {corpus.stem}", str(folder))):
        run = copy.deepcopy(config)
        run.base.model = base
        reports[label] = json.loads((calibrate(run, quiet=False) / "calibration.json").read_text())
    print()
    print("| family | " + " | ".join(reports) + " |")
    print("| --- |" + " --- |" * len(reports))
    for name in args.families:
        cells = []
        for report in reports.values():
            fam = report["families"][name]
            final = fam["final"] or {}
            cells.append(f"L{fam['level']} (final {final.get('accuracy', float('nan')):.2f}, normalized "
                         f"{final.get('normalized', float('nan')):.2f}{', in band' if final.get('in_band') else ''})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
