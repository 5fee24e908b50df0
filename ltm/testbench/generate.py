"""Batched generation for short and open answers, with the config's decoding settings.

Prompts are left-padded so a batch decodes together; the answer is the text after the
prompt, cut at the first blank line (short answers: at the first newline), so a model
that rambles on is judged on what it said first; leading whitespace is stripped before the
cut, so a reply that opens with a newline is not read as empty.
"""

from __future__ import annotations

from dataclasses import asdict


def decoding_kwargs(decoding) -> dict:
    kwargs = {"max_new_tokens": decoding.max_new_tokens, "repetition_penalty": decoding.repetition_penalty}
    if decoding.temperature > 0:
        kwargs.update(do_sample=True, temperature=decoding.temperature, top_p=decoding.top_p)
    else:
        kwargs.update(do_sample=False)
    return kwargs


def decoding_record(decoding) -> dict:
    return asdict(decoding)


def cut_answer(text: str, stop_at_newline: bool) -> str:
    """What a model said first: ``text`` up to its first newline (short answers) or blank line (open).

    Leading whitespace goes first: instruct models often open a reply with "\n" or "\n\n",
    and cutting before stripping turned "\nWill has it" into an empty answer.
    """
    cut = "\n" if stop_at_newline else "\n\n"
    return text.lstrip().split(cut)[0].strip()


def generate(model, tokenizer, prompts: list[str], decoding, batch_size: int = 16,
             max_new_tokens: int | None = None, stop_at_newline: bool = False) -> list[str]:
    import torch

    from .loglik import model_max_length

    device = next(model.parameters()).device
    kwargs = decoding_kwargs(decoding)
    if max_new_tokens is not None:
        kwargs["max_new_tokens"] = min(max_new_tokens, kwargs["max_new_tokens"])
    budget = model_max_length(model) - kwargs["max_new_tokens"]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    outputs: list[str] = []
    torch.manual_seed(decoding.seed)
    with torch.no_grad():
        for start in range(0, len(prompts), batch_size):
            batch = [tokenizer.encode(p)[-budget:] for p in prompts[start:start + batch_size]]
            width = max(len(ids) for ids in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, tokens in enumerate(batch):
                ids[row, width - len(tokens):] = torch.tensor(tokens)
                mask[row, width - len(tokens):] = 1
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), pad_token_id=pad, **kwargs)
            for row in range(len(batch)):
                text = tokenizer.decode(out[row, width:], skip_special_tokens=True)
                outputs.append(cut_answer(text, stop_at_newline))
    return outputs
