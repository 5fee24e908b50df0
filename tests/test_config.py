"""Experiment configs: shipped files validate; bad files list every problem with file:line."""

from pathlib import Path

import pytest

from ltm.config import apply_overrides, load_config
from ltm.errors import ConfigError, LtmError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_experiment_validates(path):
    config = load_config(path)
    assert config.name
    assert config.corpora_root.is_dir()


def _write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_all_problems_are_listed_at_once_with_file_and_line(tmp_path):
    path = _write(tmp_path, "name: x\ntraining:\n  rank: 0\n  learning_rate: -1\n  epoch: 2\nbase:\n  quantization: nf5\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems
    assert len(problems) == 4
    text = "\n".join(problems)
    assert f"{path}:3: training.rank: must be at least 1" in text
    assert f"{path}:4: training.learning_rate: must be greater than 0" in text
    assert f"{path}:5: training.epoch: unknown key — did you mean 'epochs'?" in text
    assert f"{path}:7: base.quantization:" in text and "did you mean 'nf4'" in text


def test_wrong_type_names_the_expected_type(tmp_path):
    path = _write(tmp_path, "training:\n  batch_size: many\n")
    with pytest.raises(ConfigError, match=r"exp.yaml:2: training.batch_size: expected an integer, got 'many'"):
        load_config(path)


def test_scientific_notation_without_dot_is_a_number(tmp_path):
    # YAML 1.1 reads 5e-3 as a string; users write it anyway.
    config = load_config(_write(tmp_path, "training:\n  learning_rate: 5e-3\n"))
    assert config.training.learning_rate == pytest.approx(0.005)


def test_missing_base_folder_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="does not exist — fix the path"):
        load_config(_write(tmp_path, "base:\n  model: ./no/such/model\n"))


def test_invalid_yaml_is_one_line_with_location(tmp_path):
    with pytest.raises(LtmError, match=r"exp.yaml:3: invalid YAML: .*flow sequence at line 2"):
        load_config(_write(tmp_path, "name: x\ntraining: [unclosed\n"))


def test_tab_indentation_is_named(tmp_path):
    with pytest.raises(LtmError, match=r"exp.yaml:2: a tab is used for indentation"):
        load_config(_write(tmp_path, "training:\n\trank: 4\n"))


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    config = load_config(_write(tmp_path, "runs_dir: out\ncorpora:\n  root: texts\n"))
    assert config.runs_path == tmp_path / "out"
    assert config.corpora_root == tmp_path / "texts"


def test_overrides_are_validated_like_the_file():
    config = load_config(ROOT / "experiments" / "overnight.yaml")
    changed = apply_overrides(config, ["training.rank=8", "base.quantization=nf4"])
    assert changed.training.rank == 8 and changed.base.quantization == "nf4"
    with pytest.raises(ConfigError, match="training.rank: must be at least 1"):
        apply_overrides(config, ["training.rank=0"])


def test_the_old_key_testbench_variants_still_names_the_format_rows(tmp_path, capsys):
    config = load_config(_write(tmp_path, "testbench:\n  variants: [nf4]\n"))
    assert config.testbench.formats == ["nf4"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exp.yaml:2: testbench.variants is now testbench.formats" in err
    changed = apply_overrides(config, ["testbench.variants=[bf16]"])
    assert changed.testbench.formats == ["bf16"] and "testbench.formats" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="exp.yaml:2: testbench.variants: renamed to 'formats'"):
        load_config(_write(tmp_path, "testbench:\n  variants: [nf4]\n  formats: [bf16]\n"))


def test_relative_base_folder_resolves_against_the_config_folder(tmp_path):
    (tmp_path / "models" / "m").mkdir(parents=True)
    config = load_config(_write(tmp_path, "base:\n  model: ./models/m\n"))
    assert config.base.model == str(tmp_path / "models" / "m")


def test_axolotl_and_llama_factory_names_suggest_the_ltm_key(tmp_path):
    path = _write(tmp_path, "training:\n  lora_r: 8\n  micro_batch_size: 2\n  cutoff_len: 512\n"
                            "learning_rate: 1.0e-4\nbase:\n  load_in_4bit: true\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = "\n".join(info.value.problems)
    assert f"{path}:2: training.lora_r: unknown key — ltm calls it 'rank' (lora_r in Axolotl)" in text
    assert f"{path}:3: training.micro_batch_size: unknown key — ltm calls it 'batch_size' (micro_batch_size in Axolotl)" in text
    assert f"{path}:4: training.cutoff_len: unknown key — ltm calls it 'max_length' (cutoff_len in LLaMA-Factory)" in text
    # at the wrong level: the section it belongs in
    assert f"{path}:5: learning_rate: unknown key — ltm calls it training.learning_rate" in text
    # a switch in the other tools is a value in ltm
    assert f"{path}:7: base.load_in_4bit: unknown key — ltm calls it 'quantization: nf4' (load_in_4bit in Axolotl)" in text


def test_every_other_tool_name_maps_to_a_real_ltm_key():
    import dataclasses

    from ltm.config import ExperimentConfig
    from ltm.schema import OTHER_TOOLS, other_tool_names

    names = other_tool_names()
    assert {"lora_r", "lora_rank", "micro_batch_size", "per_device_train_batch_size", "sequence_len", "cutoff_len",
            "num_epochs", "num_train_epochs", "gradient_accumulation_steps"} <= set(names)
    for row in OTHER_TOOLS:
        cls = ExperimentConfig
        *sections, key = row.ltm_key.split(".")
        for section in sections:
            cls = type(next(f.default_factory() for f in dataclasses.fields(cls) if f.name == section))
        assert key in {f.name for f in dataclasses.fields(cls)}, row.ltm_key
