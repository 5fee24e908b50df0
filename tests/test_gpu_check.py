"""bench/gpu_check.sh, the one prepared device check, runs end to end in its CPU smoke mode: every
part (LoRA training, NF4 QLoRA training, choice scoring over 4 adapters) prints a figure, so the
first session lent a GPU runs a script that is known to work."""

import re
import subprocess
import sys


def test_gpu_check_cpu_smoke_prints_every_figure(repo_root):
    done = subprocess.run(["bash", str(repo_root / "bench" / "gpu_check.sh"), "--cpu-smoke"], cwd=repo_root,
                          capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"})
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    assert re.search(r"^lora fp32 training: [\d,]+ tokens/s", out, re.M), out
    assert re.search(r"^nf4 qlora training: [\d,]+ tokens/s", out, re.M), out
    assert re.search(r"^eval choice scoring: [\d,.]+ items/s \(96 choice items = 4 adapters × 24", out, re.M), out
    assert "0 part(s) failed" in out


def test_gpu_check_refuses_the_full_run_without_a_gpu(repo_root):
    done = subprocess.run(["bash", str(repo_root / "bench" / "gpu_check.sh")], cwd=repo_root, capture_output=True,
                          text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable,
                                                       "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 2
    assert done.stdout.strip().splitlines()[-1].startswith("error: no CUDA GPU"), done.stdout
