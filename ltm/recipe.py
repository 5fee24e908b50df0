"""How many optimizer steps a training run makes, and how many of them warm up.

One function (`plan`) for `ltm train`, `ltm estimate` and the sweep's time, so the three never
disagree. Why it exists: at `max_length: 2048` a 28,000-word corpus (≈ 36k tokens) is 17
sequences; `epochs: 2` at batch 8 × grad_accum 2 made 3 optimizer steps and round(0.03 × 3) = 0
warmup steps — LoRA barely moves in 3 steps, and nothing said so. Now the steps are counted
from the sequences the corpus really produces (blocks after packing), the epochs, the batch,
the gradient accumulation and the number of processes; the warmup has a floor; and a run of
fewer than `MIN_STEPS` steps prints one line naming the settings to change.

Warmup: `training.warmup_steps` when set; otherwise `warmup_ratio` of the steps but at least
min(10, steps // 10) (a 100-step run warms up for 10 steps, not 3; a 3-step run for none).
`warmup_ratio: 0` means no warmup.

Passes are counted as the trainer runs them: an epoch is ceil(sequences / batch) micro-batches
per process, grouped by grad_accum into optimizer steps, so a corpus smaller than one batch makes
one pass per step. When `max_steps` repeats a tiny corpus more than `MAX_PASSES` times (a
1.35-page corpus ran 20 epochs, issue 15) `repeat_warning` says so in one line.

World size: under `accelerate launch` (or torchrun) every process reads its own batches, so one
optimizer step consumes batch_size × grad_accum × WORLD_SIZE sequences; a single process is 1.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

from .errors import LtmError

MIN_STEPS = 20      # fewer optimizer steps than this, and a LoRA adapter has hardly trained
WARMUP_FLOOR = 10   # warmup is at least min(WARMUP_FLOOR, steps // 10) steps
MAX_PASSES = 5      # more passes than this, forced by max_steps, and a small corpus is memorised


def world_size(environ=None) -> int:
    """Training processes: WORLD_SIZE as set by `accelerate launch` / torchrun; 1 otherwise."""
    env = os.environ if environ is None else environ
    raw = str(env.get("WORLD_SIZE", "1")).strip() or "1"
    try:
        return max(1, int(raw))
    except ValueError:
        raise LtmError(f"WORLD_SIZE={raw!r} is not a number of processes — unset it, or start ltm with "
                       "`accelerate launch`, which sets it") from None


def warmup_steps(steps: int, training) -> int:
    """Warmup steps of a `steps`-step run (see the module docstring for the rule)."""
    if training.warmup_steps is not None:
        return max(0, min(int(training.warmup_steps), steps))
    if training.warmup_ratio <= 0:
        return 0
    return min(steps, max(int(round(training.warmup_ratio * steps)), min(WARMUP_FLOOR, steps // 10)))


@dataclass(frozen=True)
class Plan:
    """The schedule of one run: what was counted, and the steps that follow from it."""

    sequences: int      # training sequences in one pass (packed blocks of max_length tokens)
    epochs: float
    max_steps: int      # -1: from epochs
    batch_size: int
    grad_accum: int
    world_size: int
    per_step: int       # sequences consumed by one optimizer step
    full_steps: int     # steps for `epochs` passes
    steps: int          # steps the trainer will make (max_steps when set)
    warmup_steps: int

    @property
    def steps_per_pass(self) -> int:
        """Optimizer steps of one pass, as the trainer counts them (the last micro-batch may be short)."""
        micro = math.ceil(math.ceil(self.sequences / self.batch_size) / self.world_size)
        return max(1, math.ceil(micro / self.grad_accum))

    @property
    def passes(self) -> float:
        """Passes over the corpus the run makes (max_steps can make it less than one, or many)."""
        return self.steps / self.steps_per_pass if self.sequences else 0.0

    @property
    def partial(self) -> bool:
        """max_steps stops the run before one full pass: part of the corpus is never trained on."""
        return self.max_steps > 0 and self.passes < 1

    def describe(self) -> str:
        if self.max_steps > 0:
            if self.partial:
                return f"max_steps {self.max_steps}: stops after {self.passes:.0%} of one pass".replace("%", " %")
            return f"max_steps {self.max_steps}: {self.passes:.1f} passes"
        return f"{self.epochs:g} epochs"

    def warning(self, name: str) -> str | None:
        """One line when the run makes too few optimizer steps to train, naming what to change."""
        if self.steps >= MIN_STEPS:
            return None
        counted = (f"{self.sequences} sequences × {self.epochs:g} epochs / {self.per_step} per step "
                   f"({self.batch_size} batch × {self.grad_accum} grad_accum × {self.world_size} process"
                   f"{'es' if self.world_size > 1 else ''})")
        if self.max_steps > 0:
            return (f"{name}: {self.steps} optimizer steps (training.max_steps) — too few to train a LoRA adapter; "
                    f"raise training.max_steps to at least {MIN_STEPS}")
        return (f"{name}: {self.steps} optimizer steps from {counted} — too few to train a LoRA adapter; lower "
                f"training.batch_size or training.grad_accum, raise training.epochs, or set training.max_steps "
                f"(≥ {MIN_STEPS})")

    def repeat_warning(self, name: str, pages: float | None = None) -> str | None:
        """One line when max_steps repeats a small corpus more than MAX_PASSES times."""
        if self.max_steps <= 0 or self.passes <= MAX_PASSES:
            return None
        size = f"{pages:.2f} pages, " if pages is not None else ""
        fewer = self.steps_per_pass * max(1, math.ceil(self.epochs))
        return (f"{name}: training.max_steps={self.max_steps} makes {self.passes:.0f} passes over this small corpus "
                f"({size}{self.sequences} sequence{'s' if self.sequences != 1 else ''}) — it will be memorised rather "
                f"than learned from; lower training.max_steps (≈ {fewer} makes {self.epochs:g} epochs) or add text")

    def as_dict(self) -> dict:
        return {**asdict(self), "passes": round(self.passes, 4)}


def plan(sequences: int, training, world: int | None = None) -> Plan:
    """The optimizer steps and warmup for `sequences` training sequences per pass."""
    world = world_size() if world is None else max(1, int(world))
    per_step = training.batch_size * training.grad_accum * world
    full = max(1, math.ceil(sequences * training.epochs / per_step))
    steps = training.max_steps if training.max_steps and training.max_steps > 0 else full
    return Plan(sequences=sequences, epochs=training.epochs, max_steps=training.max_steps if training.max_steps > 0 else -1,
                batch_size=training.batch_size, grad_accum=training.grad_accum, world_size=world, per_step=per_step,
                full_steps=full, steps=steps, warmup_steps=warmup_steps(steps, training))


def sequences_for_tokens(tokens: int, max_length: int) -> int:
    """Blocks a token stream of `tokens` is cut into (the last one shorter, never dropped)."""
    return max(0, math.ceil(tokens / max_length))
