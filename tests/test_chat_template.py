"""base.chat_template: instruct models read scenes as a user turn; off by default, recorded with every result."""

from __future__ import annotations

import pytest

from ltm.errors import LtmError
from ltm.scenes import load_scenes
from ltm.testbench.run import _chat_template


def _scenes(tmp_path):
    (tmp_path / "s.yaml").write_text("""\
scenes:
  - id: c1
    kind: choice
    measure: depth
    steps: 1
    context: Ann is taller than Bo.
    prompt: So
    choices: [Bo is shorter than Ann., Ann is shorter than Bo.]
    answer: Bo is shorter than Ann.
  - id: s1
    kind: short
    context: Ann has the cup. Ann gives the cup to Bo.
    prompt: So now
    answer: Bo
""")
    return load_scenes(tmp_path)


@pytest.mark.slow
def test_generate_mode_wraps_generated_items_only_and_all_wraps_every_item(tmp_path, nano_config):
    from ltm.basemodel import load_tokenizer

    tokenizer = load_tokenizer("smollm2-135m")
    scenes = _scenes(tmp_path)
    plain = {s.id: scenes.input_text(s) for s in scenes.items}
    nano_config.base.chat_template = "generate"
    wrapped = _chat_template(nano_config, scenes, tokenizer)
    choice, short = wrapped.items
    assert wrapped.input_text(choice) == plain["c1"]
    assert wrapped.input_text(short).startswith("<|im_start|>") and plain["s1"] in wrapped.input_text(short)
    assert wrapped.input_text(short).endswith("<|im_start|>assistant\n")
    nano_config.base.chat_template = "all"
    assert _chat_template(nano_config, scenes, tokenizer).input_text(choice) != plain["c1"]
    nano_config.base.chat_template = "off"
    assert _chat_template(nano_config, scenes, tokenizer) is scenes


def test_a_tokenizer_without_a_chat_template_is_a_one_line_error(tmp_path, nano_config):
    from ltm.basemodel import load_tokenizer

    nano_config.base.chat_template = "generate"
    with pytest.raises(LtmError, match="has no chat template — set base.chat_template: off"):
        _chat_template(nano_config, _scenes(tmp_path), load_tokenizer("ltm-nano"))
