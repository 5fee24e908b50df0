"""Benchmark: LoRA training speed of the real base `smollm2-135m` on this machine's CPU.

Why: before pointing `ltm train` at a real model on a laptop, a user wants to know how many
tokens per second it trains. This times forward + backward of LoRA with ltm's default
settings (r=16, alpha 32, all linear layers, fp32) on batches of 4 × 128 tokens of a shipped
corpus, after one warm-up step; the AdamW step is timed separately.

    python bench/smollm2_throughput.py              # 5 measured steps
    python bench/smollm2_throughput.py --steps 10 --batch 4 --length 128
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--corpus", default=str(ROOT / "corpora" / "syllogisms.txt"))
    args = parser.parse_args()

    import torch
    from peft import get_peft_model

    from ltm import basemodel
    from ltm.config import TrainingConfig
    from ltm.progress import quiet_libraries
    from ltm.trainer_backend import lora_config

    quiet_libraries()

    tc = TrainingConfig()  # ltm's defaults: r=16, alpha 32, all-linear
    ref = basemodel.resolve("smollm2-135m")
    tokenizer = basemodel.load_tokenizer("smollm2-135m")
    model = get_peft_model(basemodel.load_model(ref, dtype="fp32"), lora_config(tc))
    model.train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=tc.learning_rate)

    ids = tokenizer(Path(args.corpus).read_text(encoding="utf-8"), verbose=False)["input_ids"]
    per_step = args.batch * args.length
    if len(ids) < per_step * (args.steps + 1):
        raise SystemExit(f"{args.corpus}: {len(ids)} tokens, need {per_step * (args.steps + 1)}")
    batches = torch.tensor(ids[: per_step * (args.steps + 1)]).view(args.steps + 1, args.batch, args.length)

    forward_backward = optimizer_seconds = 0.0
    for step, batch in enumerate(batches):
        started = time.perf_counter()
        model(input_ids=batch, labels=batch).loss.backward()
        middle = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step:  # step 0 warms up allocators and kernels
            forward_backward += middle - started
            optimizer_seconds += time.perf_counter() - middle
    tokens = per_step * args.steps
    print(f"smollm2-135m LoRA r={tc.rank} {tc.target_modules} fp32, {trainable:,} trainable parameters, "
          f"batch {args.batch} × {args.length}, {torch.get_num_threads()} torch threads, {args.steps} steps")
    print(f"forward+backward: {tokens / forward_backward:,.0f} tokens/s ({forward_backward / args.steps:.2f} s/step)")
    print(f"with the AdamW step: {tokens / (forward_backward + optimizer_seconds):,.0f} tokens/s")


if __name__ == "__main__":
    main()
