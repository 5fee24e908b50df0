"""Cutting generated answers: a reply that opens with a newline is an answer, not an empty one.

Instruct models often start a reply with "\\n" (or "\\n\\n"); cutting at the first newline or
blank line before stripping turned "\\nWill has it" into "" and scored it as empty.
"""

from __future__ import annotations

import pytest

from ltm.testbench.generate import cut_answer, generate

CUTS = [
    # (generated text, stop_at_newline, answer)
    ("\nWill has it.", True, "Will has it."),
    ("\n\nWill has it.\nThen more.", True, "Will has it."),
    ("  \n Will has it.", True, "Will has it."),
    ("Will has it.\nThen more.", True, "Will has it."),
    ("Will has it.   ", True, "Will has it."),
    ("\n\nThe box is red.\n\nThen more.", False, "The box is red."),
    ("\nThe box is red.\nIt is small.\n\nThen more.", False, "The box is red.\nIt is small."),
    ("The box is red.\n\n\n\nThen more.", False, "The box is red."),
    ("\n\n\n", False, ""),
    (" \n ", True, ""),
    ("", True, ""),
]


@pytest.mark.parametrize("text,stop_at_newline,answer", CUTS)
def test_cut_answer(text, stop_at_newline, answer):
    assert cut_answer(text, stop_at_newline) == answer


STEPS = 100


@pytest.fixture(scope="module")
def newline_first_model():
    """A tiny Llama trained (100 steps in one batch, a few seconds) to answer two prompts with a leading newline
    ("\\nWill has it.") and a leading blank line ("\\n\\nThe box is red."), on ltm-nano's tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from ltm import tinybase

    tokenizer = AutoTokenizer.from_pretrained(tinybase.tokenizer_dir(tinybase.RECIPES["ltm-nano"].vocab_size))
    replies = {"Who has the ball? Answer:": "\nWill has it.\nThen more.",
               "Describe the box in a sentence. Answer:": "\n\nThe box is red.\n\nThen more."}
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id))
    rows = [tokenizer.encode(p + r) + [tokenizer.eos_token_id] for p, r in replies.items()]
    width = max(len(row) for row in rows)
    ids = torch.tensor([row + [tokenizer.pad_token_id] * (width - len(row)) for row in rows])
    labels = torch.tensor([row + [-100] * (width - len(row)) for row in rows])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(STEPS):
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    for prompt, reply in replies.items():  # the model really opens its reply with the newline(s)
        ids = torch.tensor([tokenizer.encode(prompt)])
        out = model.generate(input_ids=ids, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        assert tokenizer.decode(out[0, ids.shape[1]:]).startswith(reply.split(".")[0] + ".")
    return model, tokenizer, list(replies)


def test_generate_keeps_an_answer_that_starts_with_a_newline(newline_first_model):
    from ltm.config import DecodingConfig

    model, tokenizer, prompts = newline_first_model
    decoding = DecodingConfig(max_new_tokens=12)
    assert generate(model, tokenizer, prompts, decoding, stop_at_newline=True) == ["Will has it.", "The box is red."]
    assert generate(model, tokenizer, prompts, decoding) == ["Will has it.\nThen more.", "The box is red."]
