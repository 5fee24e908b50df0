"""Run inside the vLLM environment (tests/vllm_env.py) by tests/test_vllm_backend.py.

`python tests/vllm_probe.py CONFIG ZERO_ADAPTER OUT.json`: evaluates the config's base and
adapters with `testbench.backend: vllm` (run "vllm"), then, on the same engine, reads the
probe's prompt log-probabilities per adapter and runs the adapter-active check on an adapter
whose LoRA weights are zero. Writes what it saw to OUT.json for the test to compare with
the transformers backend.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    from ltm import basemodel
    from ltm.config import apply_overrides, load_config
    from ltm.errors import LtmError
    from ltm.testbench import vllm_backend
    from ltm.testbench.rows import PROBE, Row, adapter_rows
    from ltm.testbench.run import evaluate, find_adapters

    config_path, zero, out = sys.argv[1:4]
    config = apply_overrides(load_config(config_path), ["testbench.backend=vllm"])
    result = evaluate(config, run="vllm", track=False, quiet=True)
    engines = list(vllm_backend._ENGINES.values())
    engine = engines[0]
    ref = basemodel.resolve(config.base.model)
    rows = adapter_rows(find_adapters(config, ref))
    seen = {"rows": sorted(result.summaries), "engines": len(engines), "adapters_served": len(engine.ids),
            "probe": {row.name: engine.prompt_logprobs(row, PROBE) for row in rows},
            "probe_base": engine.prompt_logprobs(Row(name="base", kind="base"), PROBE),
            "active": {row.name: engine.check_active(row) for row in rows}}
    try:
        engine.check_active(Row(name="zero", kind="adapter", adapter=Path(zero)))
        seen["zero"] = "accepted"
    except LtmError as exc:
        seen["zero"] = str(exc)
    seen["probe"] = {name: [{str(k): v for k, v in position.items()} for position in positions]
                     for name, positions in seen["probe"].items()}
    seen["probe_base"] = [{str(k): v for k, v in position.items()} for position in seen["probe_base"]]
    Path(out).write_text(json.dumps(seen), encoding="utf-8")


if __name__ == "__main__":  # vLLM's engine process is spawned: the guard is required
    main()
