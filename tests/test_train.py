"""Trainer: real LoRA/QLoRA on ltm-nano; no token lost; manifests, reuse, MLflow, estimate."""

import json
import re

import pytest

from ltm import corpora, train
from ltm.basemodel import load_tokenizer
from ltm.errors import LtmError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(make_nano_config):
    """Two adapters: one plain LoRA, one through the nf4 (QLoRA) path."""
    config = make_nano_config()
    plain = train.train(config, ["transitive_relations"])[0]
    config.base.quantization = "nf4"
    quantized = train.train(config, ["syllogisms"])[0]
    config.base.quantization = "none"
    return config, plain, quantized


def test_loss_falls_for_lora_and_qlora(trained):
    _, plain, quantized = trained
    for result in (plain, quantized):
        m = result.manifest
        assert m["last_loss"] < m["first_loss"] - 0.3, m
    assert quantized.manifest["quantization"] == "nf4"


def test_every_token_of_the_training_split_is_trained(trained):
    config, plain, _ = trained
    m = plain.manifest
    corpus = corpora.read_corpus(config.corpora_root / "transitive_relations.txt")
    train_text, heldout = train.split_heldout(corpus.text, config.corpora.heldout_fraction)
    expected = corpora.count_tokens(train_text, load_tokenizer("ltm-nano"))
    assert m["tokens_per_epoch"] == expected
    assert m["tokens_seen"] >= expected and m["token_coverage"] == 1.0
    # The only padding is the last, shorter block of each pass.
    assert m["padding_fraction"] < config.training.max_length / m["tokens_per_epoch"]
    assert (plain.path / "heldout" / "transitive_relations.txt").read_text() == heldout


def test_documents_mode_trains_every_line_alone(make_nano_config):
    config = make_nano_config()
    config.training.documents = "lines"
    result = train.train(config, ["syllogisms"], track=False)[0]
    m = result.manifest
    corpus = corpora.read_corpus(config.corpora_root / "syllogisms.txt")
    train_text, _ = train.split_heldout(corpus.text, config.corpora.heldout_fraction)
    tokenizer = load_tokenizer("ltm-nano")
    lines = train.split_documents(train_text, "lines")
    assert len(lines) > 300
    assert m["tokens_per_epoch"] == sum(corpora.count_tokens(line, tokenizer) for line in lines)
    assert m["config"]["training"]["documents"] == "lines"
    assert m["last_loss"] < m["first_loss"] - 0.3, m
    assert m["tokens_seen"] > 0 and m["padding_fraction"] < 0.2


def test_manifest_records_what_a_later_stage_needs(trained):
    _, plain, _ = trained
    m = json.loads((plain.path / "manifest.json").read_text())
    for key in ("base", "corpus_sha256", "config", "tokens_seen", "steps", "first_loss", "last_loss", "min_loss",
                "wall_seconds", "train_seconds", "tokens_per_second", "versions", "estimate"):
        assert key in m, key
    assert m["steps"] == 40
    assert m["base"]["spec"] == "ltm-nano" and m["base"]["fingerprint"]
    assert m["config"]["training"]["rank"] == 16
    assert "peak_rss_bytes" in m or "peak_gpu_bytes" in m
    assert m["versions"]["peft"] and m["versions"]["trl"]
    assert (plain.path / "adapter_model.safetensors").exists()
    assert (plain.path / "tokenizer.json").exists()
    assert plain.path.name.startswith("transitive_relations-")


def test_same_request_reuses_the_adapter(trained, capsys):
    config, plain, _ = trained
    again = train.train(config, ["transitive_relations"])[0]
    assert again.reused and again.path == plain.path
    assert "reusing adapter" in capsys.readouterr().out


def test_a_config_change_makes_a_new_adapter_hash(trained):
    config, plain, _ = trained
    source = train.load_sources(config, ["transitive_relations"])[0]
    fingerprint = plain.manifest["base"]["fingerprint"]
    before = train.adapter_hash(fingerprint, source, config)
    config.training.rank = 4
    try:
        assert train.adapter_hash(fingerprint, source, config) != before
    finally:
        config.training.rank = 16


def test_mlflow_run_holds_params_loss_history_and_artifacts(trained):
    config, plain, _ = trained
    from ltm import tracking

    client, experiment_id = tracking.client(config)
    run = client.get_run(plain.manifest["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["training.rank"] == "16"
    assert run.data.tags["ltm.corpus"] == "transitive_relations"
    assert run.data.tags["ltm.quantization"] == "none"
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 40
    assert run.data.metrics["token_coverage"] == 1.0
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "adapter")}
    assert "adapter/manifest.json" in artifacts and "adapter/adapter_model.safetensors" in artifacts


def test_failed_training_leaves_no_folder_that_looks_complete(nano_config, monkeypatch):
    from ltm import trainer_backend

    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(trainer_backend, "build_trainer", boom)
    nano_config.training.seed = 12345  # a new hash, so nothing is reused
    with pytest.raises(RuntimeError):
        train.train(nano_config, ["cause_and_effect"], track=False)
    leftovers = list(train.adapters_dir(nano_config).glob("cause_and_effect-*"))
    assert leftovers == []


def test_empty_corpus_is_a_clear_error(nano_config, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(LtmError, match="no readable text"):
        train.train(nano_config, [str(empty)], track=False)


def test_manifest_records_the_estimate_and_its_error(nano_config):
    """The estimate's accuracy (±30 %) is a benchmark figure (docs/benchmarks.md), not a timed unit
    test: on a shared 2-core machine a 3-second training varies by ±50 %. Here we check the
    bookkeeping, and a bound loose enough to catch a unit slip (seconds vs steps, ×1000)."""
    from ltm.estimate import calibrate

    nano_config.training.max_steps = 60
    nano_config.training.seed = 7
    calibrate(nano_config, force=True)
    result = train.train(nano_config, ["who_holds_what"], track=False)[0]
    estimate = result.manifest["estimate"]
    measured = result.manifest["train_seconds"]
    assert estimate["train_seconds"] > 0, "the manifest should carry the estimate"
    assert abs(estimate["error"] - (measured / estimate["train_seconds"] - 1)) < 0.02
    assert 0.2 < measured / estimate["train_seconds"] < 5, estimate


def test_cli_estimate_prints_the_page_table(tmp_path, capsys, repo_root):
    from ltm.cli import main

    config = tmp_path / "exp.yaml"
    config.write_text(f"name: est\nruns_dir: {tmp_path / 'runs'}\nbase:\n  model: ltm-nano\ncorpora:\n  root: {repo_root / 'corpora'}\n"
                      "training:\n  batch_size: 8\n  max_steps: 40\n"
                      f"testbench:\n  scenes: {repo_root / 'scenes'}\n")
    assert main(["estimate", "--config", str(config), "syllogisms", "weather_log"]) == 0
    out = capsys.readouterr().out
    assert "tokens per A4 page" in out
    for pages in ("1", "10", "100", "1000"):
        assert any(line.split()[:1] == [pages] for line in out.splitlines()), out
    assert "memory:" in out and "configured sweep" in out
    # evaluation is measured and added to the sweep's time, not left out
    assert re.search(r"evaluation, measured: [\d,]+ ms per choice item", out), out
    sweep = next(line for line in out.splitlines() if line.startswith("configured sweep"))
    assert re.search(r" rows .*≈ [\d.]+ (s|min|h) of evaluation (\+ \d+ base loads ≈ [\d.]+ (s|min|h) )?= ", sweep), sweep
    assert "per corpus:" in out and "assumed" not in out  # measured here: nothing is labelled assumed


def test_cli_train_error_for_unknown_corpus_suggests_the_name(nano_config, capsys, tmp_path):
    from ltm.cli import main

    config = tmp_path / "exp.yaml"
    config.write_text(f"base:\n  model: ltm-nano\ncorpora:\n  root: {nano_config.corpora_root}\nruns_dir: {tmp_path}\n")
    assert main(["train", "sylogisms", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'syllogisms'?" in err and err.count("\n") == 1
