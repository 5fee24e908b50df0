#!/usr/bin/env bash
# The one prepared device check (bench/gpu_check.py): LoRA and QLoRA tokens/s on a
# Llama-3.1-8B shape, evaluation items/s for 4 adapters, peak memory; ≤ 8 min on one
# H100/H200-class GPU.  `bash bench/gpu_check.sh --cpu-smoke` runs it on a tiny shape (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$PY" bench/gpu_check.py "$@"
