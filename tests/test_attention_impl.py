"""`base.attn_implementation`: the attention kernel training and evaluation load the base with.

`training.documents: lines|paragraphs` packs several documents into one sequence and keeps
each one's attention to itself through per-document position ids. eager and sdpa build that
mask from the position ids at any batch size; flash-attention 2 reads them only for a batch of
one row, so with more rows the documents would silently attend to each other — refused up front.
"""

from __future__ import annotations

import typing

import pytest
import torch

from ltm import basemodel
from ltm.config import BaseModelConfig, apply_overrides, default_config, load_config
from ltm.errors import ConfigError, LtmError

ALLOWED = typing.get_args(typing.get_type_hints(BaseModelConfig)["attn_implementation"])
ON_CPU = [name for name in ALLOWED if name not in basemodel.CUDA_ONLY_ATTENTION]

NOTES = [
    "Every zorp is a dax. Will is a zorp. So Will is a dax.",
    "No wug is a krell. Anna is a wug. So Anna is not a krell.",
    "Emma has the cup. Emma gives the cup to Will. So now Will has the cup.",
    "Ivy is faster than Jack. Jack is faster than Hugo. So Ivy is faster than Hugo.",
    "If it rains the road is wet. It rains.",
]


def test_the_choices_and_the_default():
    assert set(ALLOWED) == {"eager", "sdpa", "flash_attention_2"}
    assert set(ON_CPU) == {"eager", "sdpa"}
    assert BaseModelConfig().attn_implementation == "sdpa"


@pytest.mark.parametrize("implementation", ON_CPU)
def test_packed_documents_attend_only_to_themselves_under_every_cpu_implementation(make_nano_config, tmp_path,
                                                                                     implementation):
    """Through the real training path: the config's base loaded with this kernel, the trainer's own
    collator over two packed rows; each document's logits equal its logits read alone."""
    from ltm.train import pack_documents, split_documents
    from ltm.trainer_backend import build_trainer

    config = make_nano_config()
    config.base.attn_implementation = implementation
    config.training.documents = "lines"
    config.training.batch_size = 2
    config.training.max_length = 48
    tokenizer = basemodel.load_tokenizer("ltm-nano")
    model = basemodel.load_model(basemodel.resolve("ltm-nano"), config.base.quantization, config.base.dtype,
                                 config.base.trust_remote_code, attn_implementation=config.base.attn_implementation)
    assert model.config._attn_implementation == implementation
    documents = [tokenizer(note, add_special_tokens=False)["input_ids"] for note in split_documents("\n".join(NOTES), "lines")]
    blocks = pack_documents(documents, config.training.max_length)
    assert len(blocks) >= 2 and len(blocks[0].lengths) >= 2 and len(blocks[0]) != len(blocks[1])  # padding too
    trainer, _ = build_trainer(config, model, tokenizer, blocks, tmp_path / "out", steps=1)
    assert trainer.model.get_base_model().config._attn_implementation == implementation
    batch = trainer.data_collator([{"input_ids": list(b), "seq_lengths": list(b.lengths)} for b in blocks[:2]])
    batch.pop("labels")
    trainer.model.train()  # as in training (dropout 0)
    with torch.no_grad():
        packed = trainer.model(**{k: v.to(trainer.model.device) if torch.is_tensor(v) else v for k, v in batch.items()}).logits
        checked = 0
        for row, block in enumerate(blocks[:2]):
            start = 0
            for length in block.lengths:
                alone = trainer.model(input_ids=torch.tensor([block[start:start + length]])).logits[0]
                assert torch.allclose(packed[row, start:start + length], alone, atol=1e-4), (implementation, row, start)
                start += length
                checked += 1
        # Without the per-document positions the later documents read the earlier ones.
        streamed = trainer.model(input_ids=torch.tensor([list(blocks[0])])).logits[0]
        second = blocks[0].lengths[0]
        alone = trainer.model(input_ids=torch.tensor([blocks[0][second:second + blocks[0].lengths[1]]])).logits[0]
        assert not torch.allclose(streamed[second:second + blocks[0].lengths[1]], alone, atol=1e-2)
    assert checked == sum(len(b.lengths) for b in blocks[:2]) >= 3


def _config_file(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_flash_attention_with_packed_documents_in_batches_is_refused_up_front(tmp_path):
    path = _config_file(tmp_path, "base:\n  attn_implementation: flash_attention_2\n"
                                  "training:\n  documents: lines\n  batch_size: 4\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert "\n" not in problem
    assert problem.startswith(f"{path}:2: base.attn_implementation:")
    assert "training.documents: lines" in problem and "training.batch_size: 1" in problem
    assert "sdpa" in problem  # the other fix: another kernel
    with pytest.raises(ConfigError, match="training.batch_size: 1"):  # --set is checked the same way
        apply_overrides(default_config(), ["base.attn_implementation=flash_attention_2", "training.documents=paragraphs"])


def test_flash_attention_is_accepted_where_it_keeps_documents_apart(tmp_path):
    one_row = load_config(_config_file(tmp_path, "base:\n  attn_implementation: flash_attention_2\n"
                                                 "training:\n  documents: lines\n  batch_size: 1\n  grad_accum: 16\n"))
    assert one_row.base.attn_implementation == "flash_attention_2"
    stream = apply_overrides(default_config(), ["base.attn_implementation=flash_attention_2"])  # documents: stream
    assert stream.training.batch_size == 16
    with pytest.raises(ConfigError, match="base.dtype"):  # flash-attention runs in bf16/fp16 only
        apply_overrides(default_config(), ["base.attn_implementation=flash_attention_2", "base.dtype=fp32"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU refusal")
def test_flash_attention_without_a_gpu_is_one_clear_line():
    with pytest.raises(LtmError) as info:
        basemodel.load_model(basemodel.resolve("ltm-nano"), attn_implementation="flash_attention_2")
    message = str(info.value)
    assert "\n" not in message and "CUDA" in message and "base.attn_implementation: sdpa" in message


def test_evaluation_loads_the_base_with_the_configured_kernel():
    from ltm.testbench.rows import LoadedBase

    assert LoadedBase(basemodel.resolve("ltm-nano"), attn_implementation="eager").model.config._attn_implementation == "eager"
    assert LoadedBase(basemodel.resolve("ltm-nano")).model.config._attn_implementation == "sdpa"
