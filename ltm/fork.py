"""`ltm fork`: the model writes, a selector picks at its forks, and every step is timed.

Why: the user asked for "a model not in FLOPs but in milliseconds" of writing with a person in
the loop — the model proposes a cloud of candidates (top-k) at each choice, the person picks,
and a hybrid asks the person only at forks (steps where the top-1 probability is below
``fork.threshold``, or the entropy above ``fork.entropy``). Elsewhere the model continues
greedily on its own. The loop is a manual KV-cache decode, so each span is measured apart:
prefill, one forward per token, the cloud (top-k and its text), and the selector's time from
the cloud shown to the key pressed. At the end it prints the latency model, measured.

Selectors: ``human`` (a terminal: keys 1..k pick, Enter takes the top, t types your own text,
q stops), ``top1`` (the model alone), ``random`` (seeded, among the cloud), ``judge`` (the base
with adapters off picks the candidate it finds most likely: a second opinion; with no adapter
it agrees with top1). The session goes to ``runs/forks/<stamp>.jsonl`` and to MLflow.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import atomic, basemodel, kvcache
from .errors import LtmError
from .fork_terminal import HumanSelector

SELECTORS = ("human", "top1", "random", "judge")


@dataclass
class Step:
    index: int
    fork: bool
    top_p: float
    entropy: float
    candidates: list[tuple[str, float]] = field(default_factory=list)
    chosen: str = ""
    how: str = "auto"          # auto | pick | accept | typed | stop
    token_ms: float = 0.0      # the model's forward pass that produced this step's distribution
    cloud_ms: float = 0.0      # top-k and the candidates' text, at a fork
    select_ms: float = 0.0     # from the cloud shown to the selector's answer (a person: reaction + choice)


class Top1Selector:
    name = "top1"

    def choose(self, step: Step, context: str) -> tuple[str, int | str | None]:
        return "accept", 0


class RandomSelector:
    name = "random"

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def choose(self, step: Step, context: str):
        return "pick", self.rng.randrange(len(step.candidates))


class JudgeSelector:
    """The base with adapters off rescoring the cloud: the candidate it finds most likely."""

    name = "judge"

    def __init__(self, session):
        self.session = session

    def choose(self, step: Step, context: str):
        scores = self.session.base_probabilities(step)
        return "pick", max(range(len(scores)), key=scores.__getitem__)


class Session:
    """One model (base or base + adapter) decoding with the KV cache, a token at a time.

    The model is testbench's LoadedBase (rows.py): the same loading, adapter attachment and
    adapters-off switch as `ltm eval`, so a fork session sees the model the ranking scored."""

    def __init__(self, config, adapter: Path | None):
        import torch

        from .testbench.rows import LoadedBase, adapter_rows

        self.torch = torch
        ref = basemodel.resolve(config.base.model, config.base.revision)
        self.tokenizer = basemodel.load_tokenizer(config.base.model, config.base.revision)
        self.holder = LoadedBase.of_config(ref, config.base)
        if adapter is not None:
            self.holder.attach(adapter_rows([adapter])[0])  # the one adapter attached is the active one
        self.device = next(self.holder.model.parameters()).device
        self.cuda = self.device.type == "cuda"
        self.past = None
        self.ids: list[int] = []
        self.last_candidates: list[int] = []

    @property
    def current(self):
        return self.holder.current

    def now(self) -> float:
        if self.cuda:
            self.torch.cuda.synchronize()
        return time.perf_counter() * 1000.0

    def feed(self, ids: list[int]):
        """Run the model over `ids` (the prompt, or the tokens just chosen); return the next-token logits."""
        with self.torch.no_grad():
            tensor = self.torch.tensor([ids], device=self.device)
            out, self.past = kvcache.step(self.current, tensor, self.past)
        self.ids.extend(ids)
        return out.logits[0, -1].float()

    def warm_up(self, ids: list[int]) -> None:
        with self.torch.no_grad():
            out, cache = kvcache.step(self.current, self.torch.tensor([ids], device=self.device))
            kvcache.step(self.current, self.torch.tensor([[ids[-1]]], device=self.device), cache)

    def cloud(self, logits, k: int) -> list[tuple[str, float]]:
        probs = self.torch.softmax(logits, dim=-1)
        top = self.torch.topk(probs, k)
        self.last_candidates = top.indices.tolist()
        return [(self.tokenizer.decode([i]), float(p)) for i, p in zip(top.indices.tolist(), top.values.tolist(), strict=True)]

    def base_probabilities(self, step: Step) -> list[float]:
        """The base's probability of each candidate of the last cloud, adapters off (no cache: a second pass)."""
        with self.torch.no_grad(), self.holder.disabled():
            tensor = self.torch.tensor([self.ids], device=self.device)
            logits = self.current(input_ids=tensor).logits[0, -1].float()
        probs = self.torch.softmax(logits, dim=-1)
        return [float(probs[i]) for i in self.last_candidates]


def _entropy(torch, logits) -> tuple[float, float]:
    probs = torch.softmax(logits, dim=-1)
    top = float(probs.max())
    entropy = float(-(probs * torch.log(probs.clamp_min(1e-12))).sum())
    return top, entropy


def run_fork(config, prompt: str, adapter: Path | None = None, selector: str = "human", seed: int = 0,
             track: bool = True, out=sys.stdout) -> dict:
    """Write up to fork.max_new_tokens tokens after `prompt`; return the latency summary."""
    if selector not in SELECTORS:
        raise LtmError(f"unknown selector {selector!r} — use one of {', '.join(SELECTORS)}")
    if not prompt.strip():
        raise LtmError("the prompt is empty — pass --prompt TEXT")
    fork_cfg = config.fork
    if selector == "human" and not sys.stdin.isatty():
        raise LtmError("the human selector needs a terminal (stdin is not one) — run ltm fork in a terminal, "
                       "or use --selector top1|random|judge")
    session = Session(config, adapter)
    chooser = {"human": lambda: HumanSelector(out), "top1": Top1Selector,
               "random": lambda: RandomSelector(seed), "judge": lambda: JudgeSelector(session)}[selector]()
    torch = session.torch
    eos = session.tokenizer.eos_token_id
    prompt_ids = session.tokenizer.encode(prompt)
    steps: list[Step] = []
    text = ""
    out.write(f"{prompt}")
    out.flush()
    session.warm_up(prompt_ids)  # the first call pays one-off costs (allocations, kernels) a session pays once
    started = session.now()
    logits = session.feed(prompt_ids)
    prefill_ms = session.now() - started
    token_ms = prefill_ms
    stopped = False
    try:
        for index in range(fork_cfg.max_new_tokens):
            top_p, entropy = _entropy(torch, logits)
            fork = top_p < fork_cfg.threshold or (fork_cfg.entropy is not None and entropy > fork_cfg.entropy)
            step = Step(index, fork, round(top_p, 6), round(entropy, 6), token_ms=round(token_ms, 3))
            if fork:
                shown = session.now()
                step.candidates = session.cloud(logits, fork_cfg.top_k)
                step.cloud_ms = round(session.now() - shown, 3)
                asked = time.perf_counter()
                how, choice = chooser.choose(step, prompt + text)
                step.select_ms = round((time.perf_counter() - asked) * 1000.0, 3)
            else:
                how, choice = "auto", 0
            step.how = how
            if how == "stop":
                steps.append(step)
                stopped = True
                break
            if how == "typed":
                new_ids = session.tokenizer.encode(choice, add_special_tokens=False)
                step.chosen = choice
            else:
                new_id = session.last_candidates[choice] if fork else int(torch.argmax(logits))
                new_ids = [new_id]
                step.chosen = session.tokenizer.decode([new_id])
            steps.append(step)
            text += step.chosen
            if not fork or chooser.name != "human":  # the person's terminal has shown the choice already
                out.write(step.chosen)
                out.flush()
            if not new_ids or (len(new_ids) == 1 and new_ids[0] == eos):
                break
            begun = session.now()
            logits = session.feed(new_ids)
            token_ms = session.now() - begun
    except KeyboardInterrupt:
        stopped = True
        out.write("\ninterrupted — the session so far is kept\n")
    finally:
        summary = latency_summary(prefill_ms, len(prompt_ids), steps)
        header = {"prompt": prompt, "base": config.base.model, "adapter": str(adapter) if adapter else None,
                  "selector": selector, "threshold": fork_cfg.threshold, "entropy": fork_cfg.entropy,
                  "top_k": fork_cfg.top_k, "device": str(session.device),
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        transcript = write_transcript(config, header, steps, prompt + text, summary)
    out.write("\n\n" + report(summary) + f"\ntranscript: {transcript}\n")
    out.flush()
    if track:
        _track(config, header, summary, transcript)
    summary.update({"transcript": str(transcript), "text": prompt + text, "stopped": stopped})
    return summary


def latency_summary(prefill_ms: float, prompt_tokens: int, steps: list[Step]) -> dict:
    """The latency model, measured: ms per token alone, with a person at every step, and at forks only."""
    forward = [s.token_ms for s in steps[1:]] or [0.0]  # step 0's distribution came from the prefill
    steps = [s for s in steps if s.how != "stop"]  # a fork where the person stopped writes nothing
    forks = [s for s in steps if s.fork]
    cloud = [s.cloud_ms for s in forks]
    select = [s.select_ms for s in forks]
    mean = statistics.fmean
    model_ms = mean(forward)
    cloud_ms = mean(cloud) if cloud else None
    select_ms = mean(select) if select else None
    waiting = sum(s.cloud_ms + s.select_ms for s in steps)
    total_ms = prefill_ms + sum(s.token_ms for s in steps[1:]) + waiting
    every_step = None if cloud_ms is None or select_ms is None else model_ms + cloud_ms + select_ms
    hybrid = model_ms + waiting / len(steps) if steps else None  # forward per token + the forks' share
    return {
        "prompt_tokens": prompt_tokens, "steps": len(steps), "forks": len(forks),
        "fork_share": round(len(forks) / len(steps), 4) if steps else None,
        "prefill_ms": round(prefill_ms, 3), "model_ms_per_token": round(model_ms, 3),
        "cloud_ms": None if cloud_ms is None else round(cloud_ms, 3),
        "select_ms": None if select_ms is None else round(select_ms, 3),
        "every_step_ms_per_token": None if every_step is None else round(every_step, 3),
        "forks_only_ms_per_token": None if hybrid is None else round(hybrid, 3),
        "total_ms": round(total_ms, 3),
        "select_ms_median": round(statistics.median(select), 3) if select else None,
        "steps_per_second_model": round(1000.0 / model_ms, 2) if model_ms > 0 else None,
        "slowdown_forks_only": None if hybrid is None or model_ms <= 0 else round(hybrid / model_ms, 3),
        "automatic_share": round(1 - len(forks) / len(steps), 4) if steps else None,
    }


def report(s: dict) -> str:
    def ms(value) -> str:
        return "—" if value is None else f"{value:,.1f} ms"

    lines = [
        "latency model, measured (this session):",
        f"  {'prefill (' + str(s['prompt_tokens']) + ' prompt tokens)':<39}{ms(s['prefill_ms'])}",
        f"  model alone, per token                 {ms(s['model_ms_per_token'])}",
        f"  top-k cloud at a fork                  {ms(s['cloud_ms'])}",
        f"  selector, cloud shown → key            {ms(s['select_ms'])}",
        f"  a person at every step, per token      {ms(s['every_step_ms_per_token'])}",
        f"  a person at forks only, per token      {ms(s['forks_only_ms_per_token'])}"
        + ("" if s["slowdown_forks_only"] is None else f"  ({s['slowdown_forks_only']:.1f}× the model alone)"),
        f"  forks: {s['forks']} of {s['steps']} steps"
        + ("" if s["fork_share"] is None else f" ({s['fork_share']:.0%}; {s['automatic_share']:.0%} automatic)"),
        f"  whole text                             {ms(s['total_ms'])}",
    ]
    return "\n".join(lines)


def write_transcript(config, header: dict, steps: list[Step], text: str, summary: dict) -> Path:
    import dataclasses

    folder = config.runs_path / "forks"
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{header['selector']}.jsonl"
    n = 1
    while path.exists():
        path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{header['selector']}-{n}.jsonl"
        n += 1
    lines = [json.dumps({"header": header}, ensure_ascii=False)]
    lines += [json.dumps({"step": dataclasses.asdict(s)}, ensure_ascii=False) for s in steps]
    lines.append(json.dumps({"text": text, "summary": summary}, ensure_ascii=False))
    atomic.write_text(path, "\n".join(lines) + "\n")
    return path


def _track(config, header: dict, summary: dict, transcript: Path) -> None:
    from . import tracking

    params = {k: str(v) for k, v in header.items() if k != "created"}
    metrics = {k: float(v) for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
               and math.isfinite(v)}
    with tracking.guard():
        with tracking.run(config, f"fork-{transcript.stem}", {"ltm.kind": "fork"}, params) as (client, run_id):
            tracking.log_metrics(client, run_id, metrics)
            tracking.log_artifact(client, run_id, transcript, "fork")
