"""The device check: what one GPU does with the user's model shape, in one short run.

Why: the user's card (RTX PRO 6000 Blackwell, 96 GB) runs 7B–14B models; our machines have no
GPU, and the few sessions that are lent one have minutes of it. This script is prepared so that
such a session runs one command (`bash bench/gpu_check.sh`, ≤ 8 min on an H100/H200-class GPU)
and copies the figures into docs/benchmarks.md. It needs no download: the model is a
randomly initialised Llama-3.1-8B-shaped network (speed and memory depend on the shape, not on
the weights) and the tokenizer is bytes.

It prints, each with its peak GPU memory:
1. bf16 LoRA training tokens/s (r=16, every linear layer, packed 2,048-token rows, gradient
   checkpointing) and its share of the card's dense bf16 peak, counting 4·N FLOP per token
   (forward 2N + the activations' backward 2N; LoRA adds no weight gradients to speak of);
2. NF4 QLoRA training tokens/s (bitsandbytes 4-bit base, the same LoRA);
3. evaluation items/s of ltm's own choice scoring (`testbench.items.score_choices`) on the
   shipped scenes for 4 LoRA adapters switched on one loaded base (HF backend), and with vLLM
   when it is installed (not yet: ltm has no vLLM backend, the line says so).

`--cpu-smoke` runs every part on a tiny shape on the CPU in under a minute (CI runs it via
tests/test_gpu_check.py), so the script is known to run before a GPU ever sees it (bitsandbytes
quantises and trains NF4 on the CPU too, slowly, so the QLoRA path is exercised). A part that fails prints its one-line
reason and the others still run; the exit status is non-zero if any part failed.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Dense bf16 tensor peak (no sparsity), TFLOP/s, by a substring of torch's device name.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "RTX PRO 6000": 504.0, "A100": 312.0, "L40S": 362.0,
                    "RTX 4090": 165.0, "A6000": 155.0}


@dataclass(frozen=True)
class Shape:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    length: int       # tokens per packed row
    batch: int        # rows per step
    steps: int        # timed steps (after one warm-up step)
    eval_items: int   # scene items scored per adapter (0 = all)


LLAMA_8B = Shape(hidden=4096, intermediate=14336, layers=32, heads=32, kv_heads=8, vocab=128256,
                 length=2048, batch=4, steps=6, eval_items=0)
TINY = Shape(hidden=64, intermediate=128, layers=2, heads=1, kv_heads=1, vocab=512, length=64, batch=2,
             steps=2, eval_items=24)


class ByteTokenizer:
    """UTF-8 bytes as token ids (3..258): no download, and what scoring needs of a tokenizer."""

    eos_token_id = 2
    pad_token_id = 0

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [b + 3 for b in text.encode("utf-8")]


def build_model(shape: Shape, device: str, dtype):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=shape.hidden, intermediate_size=shape.intermediate,
                         num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                         num_key_value_heads=shape.kv_heads, vocab_size=shape.vocab,
                         max_position_embeddings=max(4096, shape.length), attn_implementation="sdpa")
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # built in its dtype: an 8B model never exists in fp32 (32 GB)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(default)
    return model


def lora(model, r: int = 16):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules="all-linear",
                                            task_type="CAUSAL_LM"))


def parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def quantize_nf4(model, compute_dtype):
    """Swap every linear layer but the head for bitsandbytes' 4-bit NF4 layer (what QLoRA loads)."""
    import bitsandbytes as bnb
    import torch

    device = next(model.parameters()).device
    for _name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear) and child_name != "lm_head":
                layer = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                          compute_dtype=compute_dtype, quant_type="nf4", device="meta")
                layer.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False, quant_type="nf4")
                layer = layer.to(device)
                setattr(module, child_name, layer)
                del child
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return model


def train_speed(model, shape: Shape, device: str) -> dict:
    """Tokens/s of LoRA training steps (forward, backward, AdamW) on packed rows."""
    import torch

    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    batch = torch.randint(3, min(shape.vocab, 259), (shape.batch, shape.length), generator=generator).to(device)

    def step():
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    _sync(device)
    step()  # warm-up: kernels chosen, memory pools grown
    _sync(device)
    started = time.perf_counter()
    for _ in range(shape.steps):
        loss = step()
    loss.item()
    _sync(device)
    seconds = time.perf_counter() - started
    tokens = shape.steps * shape.batch * shape.length
    return {"tokens_per_second": tokens / seconds, "seconds_per_step": seconds / shape.steps,
            "loss": float(loss.item())}


def eval_speed(model, shape: Shape, device: str, adapters: int = 4) -> dict:
    """Items/s of ltm's choice scoring on the shipped scenes, switching `adapters` LoRA adapters."""
    import torch
    from peft import LoraConfig, get_peft_model

    from ltm.scenes import load_scenes
    from ltm.testbench.items import score_choices

    scenes = load_scenes(ROOT / "scenes")
    items = [s for s in scenes.items if s.kind == "choice"]
    if shape.eval_items:
        items = items[:shape.eval_items]
    config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config, adapter_name="a0")
    for i in range(1, adapters):
        peft_model.add_adapter(f"a{i}", config)
    with torch.no_grad():  # LoRA's B starts at zero: give each adapter a real (random) update
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.01)
    peft_model.eval()
    tokenizer = ByteTokenizer()
    score_choices(peft_model, tokenizer, scenes, items[:4], batch_size=8)  # warm-up
    _sync(device)
    started = time.perf_counter()
    for i in range(adapters):
        peft_model.set_adapter(f"a{i}")
        score_choices(peft_model, tokenizer, scenes, items, batch_size=16, batch_tokens=16384)
    _sync(device)
    seconds = time.perf_counter() - started
    scored = adapters * len(items)
    return {"items_per_second": scored / seconds, "items": scored, "seconds": seconds,
            "choices": sum(len(s.choices) for s in items) * adapters}


def generation_prompts(shape: Shape) -> list[list[int]]:
    """Token ids of the shipped scenes' generated items (short and open answers), as the bytes tokenizer reads them."""
    from ltm.scenes import load_scenes

    scenes = load_scenes(ROOT / "scenes")
    items = [s for s in scenes.items if s.kind != "choice"]
    if shape.eval_items:
        items = items[:shape.eval_items]
    keep = shape.length // 2
    return [ByteTokenizer().encode(scenes.input_text(s))[-keep:] for s in items]


def _adapters(model, adapters: int):
    """`adapters` LoRA adapters of rank 16 with random B (a real update) on one peft model."""
    import torch
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config, adapter_name="a0")
    for i in range(1, adapters):
        peft_model.add_adapter(f"a{i}", config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.01)
    return peft_model.eval()


def hf_generate_speed(model, shape: Shape, device: str, adapters: int = 4, new_tokens: int = 32) -> dict:
    """Items/s of transformers generation as ltm's testbench.generate runs it (left-padded batches of
    16, greedy; testbench.backend: hf) over `adapters` adapters. Token ids in, no text out, and
    `min_new_tokens`, so that every answer is `new_tokens` long, as in the vLLM part."""
    import torch

    peft_model = _adapters(model, adapters)
    prompts = generation_prompts(shape)
    pad = torch.tensor(0, device=device)

    def run(ids_list):
        width = max(len(ids) for ids in ids_list)
        ids = torch.stack([torch.cat([pad.repeat(width - len(x)), torch.tensor(x, device=device)]) for x in ids_list])
        mask = (torch.arange(width, device=device)[None, :] >= torch.tensor([width - len(x) for x in ids_list],
                                                                             device=device)[:, None]).long()
        with torch.no_grad():
            peft_model.generate(input_ids=ids, attention_mask=mask, pad_token_id=0, min_new_tokens=new_tokens,
                                max_new_tokens=new_tokens, do_sample=False)

    run(prompts[:2])  # warm-up
    _sync(device)
    started = time.perf_counter()
    for i in range(adapters):
        peft_model.set_adapter(f"a{i}")
        for start in range(0, len(prompts), 16):  # testbench.batch_size's default
            run(prompts[start:start + 16])
    _sync(device)
    seconds = time.perf_counter() - started
    return {"items_per_second": adapters * len(prompts) / seconds, "items": adapters * len(prompts), "seconds": seconds,
            "tokens_per_second": adapters * len(prompts) * new_tokens / seconds}


def vllm_generate_speed(model, shape: Shape, device: str, folder: Path, adapters: int = 4, new_tokens: int = 32) -> dict:
    """The same items from one vLLM engine serving `adapters` LoRA adapters (testbench.backend: vllm).

    The model and its adapters are written to `folder` first (vLLM loads from disk), then freed."""
    import gc

    import torch
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    from vllm.lora.request import LoRARequest

    base = folder / "base"
    model.save_pretrained(base, safe_serialization=True)  # before peft wraps its layers
    peft_model = _adapters(model, adapters)
    for i in range(adapters):
        peft_model.save_pretrained(folder / "adapters", selected_adapters=[f"a{i}"])
    del peft_model, model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    dtype = "bfloat16" if device == "cuda" else "float32"
    llm = LLM(model=str(base), skip_tokenizer_init=True, enable_lora=True, max_loras=adapters, max_lora_rank=16,
              dtype=dtype, max_model_len=shape.length + new_tokens, gpu_memory_utilization=0.85, seed=0,
              enforce_eager=device != "cuda")
    prompts = [TokensPrompt(prompt_token_ids=ids) for ids in generation_prompts(shape)]
    params = SamplingParams(max_tokens=new_tokens, min_tokens=new_tokens, temperature=0.0, detokenize=False)
    paths = [folder / "adapters" / f"a{i}" for i in range(adapters)]  # peft writes a named adapter in its own folder
    requests = [LoRARequest(f"a{i}", i + 1, str(path)) for i, path in enumerate(paths)]
    llm.generate(prompts[:2], params, lora_request=requests[0], use_tqdm=False)  # warm-up
    started = time.perf_counter()
    for request in requests:
        llm.generate(prompts, params, lora_request=request, use_tqdm=False)
    seconds = time.perf_counter() - started
    return {"items_per_second": adapters * len(prompts) / seconds, "items": adapters * len(prompts), "seconds": seconds,
            "tokens_per_second": adapters * len(prompts) * new_tokens / seconds}


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _reset_memory(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak(device: str) -> str:
    import resource

    import torch

    if device == "cuda":
        return f"peak {torch.cuda.max_memory_allocated() / 2 ** 30:.1f} GiB GPU"
    return f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20:.2f} GiB RSS (process so far)"


def _peak_tflops(name: str) -> float | None:
    for key, value in PEAK_BF16_TFLOPS.items():
        if key.lower() in name.lower():
            return value
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one-GPU check: LoRA and QLoRA tokens/s, eval items/s, peak memory")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shape on the CPU: checks the script runs")
    parser.add_argument("--steps", type=int, help="timed training steps (default: 6 on the GPU, 2 in the smoke)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["lora", "nf4", "eval"], help="parts to leave out")
    args = parser.parse_args(argv)

    import torch

    from ltm.progress import quiet_libraries

    quiet_libraries()
    shape = TINY if args.cpu_smoke else LLAMA_8B
    if args.steps:
        shape = Shape(**{**shape.__dict__, "steps": args.steps})
    if not args.cpu_smoke and not torch.cuda.is_available():
        print("error: no CUDA GPU visible to torch — run on the GPU machine, or use --cpu-smoke here")
        return 2
    device = "cpu" if args.cpu_smoke else "cuda"
    dtype = torch.float32 if args.cpu_smoke else torch.bfloat16
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    versions = f"torch {torch.__version__} (CUDA {torch.version.cuda})"
    print(f"gpu_check on {name}, {versions}; shape {'tiny (smoke)' if args.cpu_smoke else 'Llama-3.1-8B'}: "
          f"hidden {shape.hidden}, {shape.layers} layers, vocab {shape.vocab}, rows {shape.batch} × {shape.length}")
    started = time.perf_counter()
    failures = 0
    n_params = None

    def part(title: str, run):
        nonlocal failures
        if title.split()[0] in args.skip:
            print(f"{title}: skipped (--skip)")
            return
        _reset_memory(device)
        t0 = time.perf_counter()
        try:
            line = run()
        except Exception as exc:  # one part's failure must not hide the others' figures
            failures += 1
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            print(f"{title}: FAILED {type(exc).__name__}: {first}")
            traceback.print_exc(limit=3, file=sys.stderr)
            return
        print(f"{title}: {line}; {_peak(device)}; {time.perf_counter() - t0:.0f} s")

    def run_lora():
        nonlocal n_params
        model = build_model(shape, device, dtype)
        n_params = parameters(model)
        result = train_speed(lora(model), shape, device)
        size = f"{n_params / 1e9:.2f}B" if n_params >= 1e8 else f"{n_params:,}"
        line = (f"{result['tokens_per_second']:,.0f} tokens/s ({result['seconds_per_step']:.2f} s per step, "
                f"{size} parameters)")
        peak = _peak_tflops(name) if device == "cuda" else None
        if peak:
            share = 4 * n_params * result["tokens_per_second"] / (peak * 1e12)
            line += f", {share:.1%} of the {peak:.0f} TFLOP/s dense bf16 peak at 4·N FLOP per token"
        elif device == "cuda":
            line += f", peak FLOP/s of {name} not in PEAK_BF16_TFLOPS: share not computed"
        del model
        return line

    def run_nf4():
        try:
            import bitsandbytes  # noqa: F401
        except Exception as exc:
            raise RuntimeError(f"bitsandbytes does not load ({type(exc).__name__}) — pip install bitsandbytes") from None
        compute = torch.bfloat16 if device == "cuda" else torch.float32
        model = build_model(shape, device, compute)
        model = quantize_nf4(model, compute)
        result = train_speed(lora(model), shape, device)
        del model
        return f"{result['tokens_per_second']:,.0f} tokens/s ({result['seconds_per_step']:.2f} s per step)"

    def run_eval():
        model = build_model(shape, device, dtype)
        result = eval_speed(model, shape, device)
        del model
        return (f"{result['items_per_second']:,.1f} items/s ({result['items']} choice items = 4 adapters × "
                f"{result['items'] // 4}, {result['choices']} continuations, {result['seconds']:.1f} s), HF backend")

    part("lora bf16 training" if device == "cuda" else "lora fp32 training", run_lora)
    part("nf4 qlora training", run_nf4)
    def run_generate():
        model = build_model(shape, device, dtype)
        result = hf_generate_speed(model, shape, device)
        del model
        return (f"{result['items_per_second']:,.1f} items/s, {result['tokens_per_second']:,.0f} new tokens/s "
                f"({result['items']} generated answers = 4 adapters × {result['items'] // 4}, 32 tokens each), HF backend")

    def run_vllm():
        import tempfile

        model = build_model(shape, device, dtype)
        with tempfile.TemporaryDirectory(prefix="ltm-gpu-check-") as folder:
            result = vllm_generate_speed(model, shape, device, Path(folder))
        return (f"{result['items_per_second']:,.1f} items/s, {result['tokens_per_second']:,.0f} new tokens/s "
                f"({result['items']} generated answers, one engine, 4 LoRA adapters), vLLM backend")

    part("eval choice scoring", run_eval)
    part("eval generation", run_generate)
    try:
        import vllm  # noqa: F401
    except ImportError:
        print("eval generation vllm: vllm not installed (pip install 'ltm[vllm]'): not measured")
    else:
        part("eval generation vllm", run_vllm)
    total = time.perf_counter() - started
    print(f"gpu_check done in {total:.0f} s, {failures} part(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
