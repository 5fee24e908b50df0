"""Preflight: a GPU/torch/bitsandbytes mismatch that will fail stops the run in one line, before
anything loads, unless --skip-preflight. The check is a pure function of the facts (capability,
torch's CUDA, bitsandbytes' probe), so its logic is tested here on CPU with the facts given."""

import pytest

from ltm import preflight
from ltm.errors import LtmError

BLACKWELL = dict(gpu="NVIDIA RTX PRO 6000 Blackwell", capability=(12, 0), torch_version="2.5.1+cu124",
                 torch_cuda="12.4", arch_list=("sm_80", "sm_86", "sm_90"))
FIXED = dict(BLACKWELL, torch_version="2.7.0+cu128", torch_cuda="12.8", arch_list=("sm_90", "sm_100", "sm_120"))


def facts(**values) -> preflight.Facts:
    return preflight.Facts(**values)


def test_no_gpu_is_fine():
    assert preflight.problems(facts(), "nf4") == []


def test_blackwell_with_a_torch_below_cuda_12_8_is_fatal_with_the_fix():
    found = preflight.problems(facts(**BLACKWELL), "none")
    fatal = [p for p in found if p.fatal]
    assert fatal, found
    text = fatal[0].text
    assert "sm_120" in text and "12.4" in text and "12.8" in text and "cu128" in text
    assert "\n" not in text


def test_blackwell_with_a_cuda_12_8_torch_is_fine():
    assert preflight.problems(facts(**FIXED), "none") == []


def test_missing_kernels_are_fatal_but_forward_compatible_ptx_is_not():
    hopper = dict(gpu="H100", capability=(9, 0), torch_version="2.4", torch_cuda="12.4")
    assert any(p.fatal for p in preflight.problems(facts(**hopper, arch_list=("sm_70", "sm_80")), "none"))
    assert preflight.problems(facts(**hopper, arch_list=("sm_80", "compute_80")), "none") == []
    assert preflight.problems(facts(**hopper, arch_list=("sm_90",)), "none") == []


def test_bitsandbytes_without_kernels_is_fatal_only_when_nf4_is_asked():
    broken = facts(**FIXED, bnb_version="0.44.1", bnb_error="RuntimeError: no kernel image is available")
    fatal = [p for p in preflight.problems(broken, "nf4") if p.fatal]
    assert len(fatal) == 1
    assert "bitsandbytes" in fatal[0].text and "base.quantization: none" in fatal[0].text
    assert preflight.problems(broken, "none") == []
    missing = facts(**FIXED, bnb_version=None, bnb_error="ModuleNotFoundError: No module named 'bitsandbytes'")
    assert "pip install" in preflight.problems(missing, "nf4")[0].text
    assert preflight.problems(facts(**FIXED, bnb_version="0.45.5"), "nf4") == []


def test_too_little_free_memory_is_a_warning_not_a_stop():
    gib = 2 ** 30
    found = preflight.problems(facts(**FIXED, free_bytes=10 * gib, total_bytes=96 * gib), "none", memory_needed=40 * gib)
    assert len(found) == 1 and not found[0].fatal and "40.0 GiB" in found[0].text


def test_ensure_stops_in_one_line_or_warns_when_forced(nano_config, capsys, monkeypatch):
    monkeypatch.setattr(preflight, "_forced", set())
    with pytest.raises(LtmError) as caught:
        preflight.ensure(nano_config, facts=facts(**BLACKWELL))
    assert len(caught.value.lines()) == 1 and "--skip-preflight" in str(caught.value)
    preflight.ensure(nano_config, force=True, facts=facts(**BLACKWELL))
    assert "warning:" in capsys.readouterr().err
    # once forced in this process (a sweep), its trainings do not stop on the same facts
    preflight.ensure(nano_config, facts=facts(**BLACKWELL))
    preflight.ensure(nano_config, facts=facts(**FIXED))


@pytest.mark.parametrize("command", [["train", "syllogisms"], ["eval"], ["sweep"], ["overnight"]])
def test_commands_run_the_preflight_first_and_skip_it_on_request(command, tmp_path, capsys, monkeypatch, repo_root):
    from ltm import cli

    monkeypatch.setattr(preflight, "_forced", set())
    monkeypatch.setattr(preflight, "gather", lambda quantization: facts(**BLACKWELL))
    config = tmp_path / "exp.yaml"
    config.write_text(f"runs_dir: {tmp_path / 'runs'}\nbase:\n  model: ltm-nano\ncorpora:\n  root: {repo_root / 'corpora'}\n"
                      f"testbench:\n  scenes: {repo_root / 'scenes'}\n")
    assert cli.main([*command, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sm_120" in err and "--skip-preflight" in err
    assert not (tmp_path / "runs").exists(), "nothing may run before the preflight"
    # --skip-preflight gets past it: what comes next is the command's own work, stopped here
    reached = []

    def stop(*args, **kwargs):
        reached.append(True)
        raise LtmError("stopped after the preflight")

    monkeypatch.setattr("ltm.train.train", stop)
    monkeypatch.setattr("ltm.testbench.run.evaluate", stop)
    monkeypatch.setattr("ltm.pipeline.run_overnight", stop)
    assert cli.main([*command, "--config", str(config), "--skip-preflight"]) == 2
    assert reached and "stopped after the preflight" in capsys.readouterr().err


def test_an_nf4_format_row_needs_bitsandbytes_when_evaluating(nano_config, monkeypatch):
    """testbench.formats: [nf4] loads the base in 4 bits for its row even when training is bf16."""
    monkeypatch.setattr(preflight, "_forced", set())
    broken = facts(**FIXED, bnb_version="0.44.1", bnb_error="RuntimeError: no kernel image is available")
    nano_config.testbench.formats = ["nf4"]
    preflight.ensure(nano_config, facts=broken, evaluating=False)  # training alone does not use it
    with pytest.raises(LtmError, match="testbench.formats"):
        preflight.ensure(nano_config, facts=broken)


def test_a_sweep_forced_past_a_mismatch_trains_past_it_too(nano_config, monkeypatch):
    monkeypatch.setattr(preflight, "_forced", set())
    nano_config.testbench.formats = ["nf4"]
    preflight.ensure(nano_config, force=True, facts=facts(**BLACKWELL))              # the sweep's start
    preflight.ensure(nano_config, facts=facts(**BLACKWELL), evaluating=False)        # each training
    with pytest.raises(LtmError, match="bitsandbytes"):  # a problem not forced still stops
        preflight.ensure(nano_config, facts=facts(**BLACKWELL, bnb_version="0.44", bnb_error="RuntimeError: x"))
