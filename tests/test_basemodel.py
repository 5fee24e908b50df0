"""The embedded base: built offline, deterministic, cached; one loader for all base kinds."""

import dataclasses
import json

import pytest
import torch

from ltm import basemodel, tinybase
from ltm.errors import LtmError


def test_nano_base_is_pretrained_and_cached():
    ref = basemodel.resolve("ltm-nano")
    info = json.loads((ref.path / "ltm_recipe.json").read_text())
    # Pretraining must have moved the loss well below ln(vocab): LoRA needs a trained base.
    assert info["last_loss"] < 0.6 * info["first_loss"]
    again = basemodel.resolve("ltm-nano")
    assert again.path == ref.path and again.fingerprint == ref.fingerprint


def test_build_is_deterministic_from_the_seed(tmp_path, monkeypatch):
    quick = dataclasses.replace(tinybase.RECIPES["ltm-nano"], name="ltm-nano", steps=3)
    monkeypatch.setitem(tinybase.RECIPES, "ltm-nano", quick)
    weights = []
    for run in ("a", "b"):
        monkeypatch.setenv("LTM_CACHE_DIR", str(tmp_path / run))
        model = basemodel.load_model(basemodel.resolve("ltm-nano"))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_recipe_hash_changes_with_the_recipe():
    nano = tinybase.RECIPES["ltm-nano"]
    assert tinybase.recipe_hash(nano) != tinybase.recipe_hash(dataclasses.replace(nano, steps=nano.steps + 1))


def test_tokenizer_learns_names_as_single_tokens():
    tokenizer = basemodel.load_tokenizer("ltm-tiny")
    from ltm.demo.words import NAMES

    single = [n for n in NAMES if len(tokenizer(" " + n, add_special_tokens=False)["input_ids"]) == 1]
    assert len(single) >= 0.8 * len(NAMES)


def test_local_folder_loads_like_the_embedded_base():
    ref = basemodel.resolve("ltm-nano")
    folder = basemodel.resolve(str(ref.path))
    assert folder.kind == "folder"
    model = basemodel.load_model(folder)
    assert model.config.vocab_size == 2048 or model.config.vocab_size > 0


def test_hub_id_while_offline_says_how_to_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(LtmError, match=r"HF_HUB_OFFLINE=1 \(the Makefile sets it\) — fetch it once with `ltm base nobody-here/not-a-model-xyz`"):
        basemodel.resolve("nobody-here/not-a-model-xyz")


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(LtmError, match="no config.json"):
        basemodel.resolve(str(tmp_path))
