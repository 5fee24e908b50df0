"""Benchmark: `ltm train` vs a plain trl SFTTrainer with its defaults, same model, corpus, steps.

Prints tokens/s for each, ltm's ratio to each, and the tokens each really trained on: trl's
defaults truncate each example to max_length, so they train on fewer; trl's own lossless
packing (`packing_strategy` `wrapped`, `bfd_split`) keeps every token, and is the fair peer.

    python bench/train_throughput.py                        # ltm-tiny on CPU, 30 steps
    python bench/train_throughput.py --base ltm-nano --steps 20
    python bench/train_throughput.py --shape llama-8b --quantization nf4 --steps 10   # CUDA only

`--shape llama-8b` builds a randomly initialised model with the shape of Llama-3.1-8B
(throughput does not depend on weight values) and reports the share of the GPU's peak
bf16 FLOP/s reached, counting LoRA training as ≈ 4·N FLOP per token.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "RTX 6000": 503e12, "RTX PRO 6000": 503e12, "4090": 165e12}


def _config(args):
    from ltm.config import ExperimentConfig

    config = ExperimentConfig(name="bench", runs_dir=tempfile.mkdtemp(prefix="ltm-bench-"))
    config.source = ROOT / "experiments" / "bench.yaml"
    config.corpora.root = str(ROOT / "corpora")
    config.base.model = args.base
    config.base.quantization = args.quantization
    config.training.max_steps = args.steps
    config.training.max_length = args.max_length
    config.training.batch_size = args.batch_size
    config.corpora.heldout_fraction = 0.0
    return config


def run_ltm(config, corpus: str) -> dict:
    from ltm import train

    result = train.train(config, [corpus], force=True, track=False)[0]
    m = result.manifest
    return {"tokens": m["tokens_seen"], "seconds": m["train_seconds"], "tokens_per_second": m["tokens_per_second"],
            "corpus_tokens": m["tokens_per_epoch"]}


def run_plain_trl(config, corpus_path: Path, packing: str | None = None) -> dict:
    """The trl quick-start: a text dataset (one example per paragraph chunk), SFTConfig defaults;
    with `packing`, trl's own packing of that dataset (`wrapped`: one stream cut every max_length
    tokens, as ltm's `stream`; `bfd_split`: best-fit decreasing, long examples split, not cut) —
    the fair peers, which keep every token as ltm does."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from ltm import basemodel, corpora
    from ltm.trainer_backend import lora_config

    corpus = corpora.read_corpus(corpus_path)
    chunks = corpora.chunk_text(corpus.text, 2000)
    tokenizer = basemodel.load_tokenizer(config.base.model)
    model = basemodel.load_model(basemodel.resolve(config.base.model), config.base.quantization)
    seen = {"tokens": 0}
    lengths = [len(tokenizer(c, verbose=False)["input_ids"]) for c in chunks]

    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(output_dir=out, max_steps=config.training.max_steps, per_device_train_batch_size=config.training.batch_size,
                         max_length=config.training.max_length, learning_rate=config.training.learning_rate,
                         report_to="none", save_strategy="no", disable_tqdm=True, logging_steps=1000,
                         # the only non-defaults besides the shared sizes: what it takes to run on CPU at all
                         use_cpu=not torch.cuda.is_available(), bf16=torch.cuda.is_available(),
                         **({"packing": True, "packing_strategy": packing} if packing else {}))
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_dict({"text": chunks}),
                             processing_class=tokenizer, peft_config=lora_config(config.training))
        collator = trainer.data_collator
        kept = sum(len(ids) for ids in trainer.train_dataset["input_ids"])  # what trl's dataset holds after packing

        def counting(examples):
            batch = collator(examples)
            mask = batch.get("attention_mask")
            seen["tokens"] += int(mask.sum()) if mask is not None else sum(len(e["input_ids"]) for e in examples)
            return batch

        trainer.data_collator = counting
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        # trl's own count of the tokens it trained on; the collator also sees the batch the
        # dataloader fetches ahead at the end, so its count runs one batch over.
        logged = [float(e["num_tokens"]) for e in trainer.state.log_history if "num_tokens" in e]
        if logged:
            seen["tokens"] = int(max(logged))
    return {"tokens": seen["tokens"], "seconds": round(seconds, 2), "tokens_per_second": round(seen["tokens"] / seconds, 1),
            "dataset_tokens": sum(lengths),
            "tokens_kept_per_epoch": kept if packing else sum(min(n, config.training.max_length) for n in lengths)}


def gpu_shape_run(args) -> dict:
    """Random-initialised Llama-3.1-8B shape on CUDA: tokens/s and share of peak bf16 FLOP/s."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if not torch.cuda.is_available():
        raise SystemExit("--shape llama-8b needs a CUDA GPU")
    shape = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                        num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192, rope_theta=500000.0)
    with tempfile.TemporaryDirectory() as folder:
        model = LlamaForCausalLM._from_config(shape, dtype=torch.bfloat16)  # random weights, ~16 GB in RAM
        model.save_pretrained(folder)
        del model
        torch.cuda.empty_cache()
        config = _config(args)
        config.base.model = folder
        from ltm import basemodel
        from ltm.trainer_backend import build_trainer

        model = basemodel.load_model(basemodel.resolve(folder), args.quantization, "bf16")
        tokenizer = basemodel.load_tokenizer("ltm-tiny")  # only its pad id is used; inputs are random ids
        steps = args.steps + 2
        blocks = torch.randint(0, 128000, (steps * args.batch_size, args.max_length)).tolist()
        marks = []
        from transformers import TrainerCallback

        class Clock(TrainerCallback):
            def on_step_end(self, *a, **k):
                torch.cuda.synchronize()
                marks.append(time.perf_counter())

        with tempfile.TemporaryDirectory() as out:
            trainer, _ = build_trainer(config, model, tokenizer, blocks, Path(out), steps)
            trainer.add_callback(Clock())
            trainer.train()
    seconds = (marks[-1] - marks[1]) / (len(marks) - 2)
    tps = args.batch_size * args.max_length / seconds
    n_params = 8.03e9
    name = torch.cuda.get_device_name(0)
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    return {"gpu": name, "tokens_per_second": round(tps, 1), "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "mfu": round(4 * n_params * tps / peak, 4) if peak else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="ltm-tiny")
    parser.add_argument("--corpus", default="transitive_relations")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--quantization", default="none", choices=["none", "nf4"])
    parser.add_argument("--shape", choices=["llama-8b"], help="random-initialised real-size model (CUDA)")
    parser.add_argument("--peers", nargs="*", choices=["plain_trl_defaults", "trl_packing_wrapped", "trl_packing_bfd_split"],
                        help="which trl runs to set beside ltm (default: all three)")
    args = parser.parse_args()
    if args.shape:
        print(json.dumps(gpu_shape_run(args), indent=2))
        return
    config = _config(args)
    from ltm import corpora

    (path,) = corpora.select(config.corpora_root, [args.corpus])
    ours = run_ltm(config, args.corpus)
    report = {"base": args.base, "steps": args.steps, "max_length": args.max_length, "batch_size": args.batch_size,
              "ltm": ours, "ltm_coverage": round(min(1.0, ours["tokens"] / ours["corpus_tokens"]), 4)}
    for name, packing in (("plain_trl_defaults", None), ("trl_packing_wrapped", "wrapped"),
                          ("trl_packing_bfd_split", "bfd_split")):
        if args.peers and name not in args.peers:
            continue
        try:
            peer = run_plain_trl(config, path, packing)
        except Exception as exc:  # a peer that cannot run here is reported, not hidden
            report[name] = {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"}
            continue
        peer["coverage"] = round(min(1.0, peer["tokens_kept_per_epoch"] / peer["dataset_tokens"]), 4)
        peer["ltm_ratio_tokens_per_second"] = round(ours["tokens_per_second"] / peer["tokens_per_second"], 2)
        report[name] = peer
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
