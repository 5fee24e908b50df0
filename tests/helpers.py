"""Small things several test files need: a free port, a real MLflow server, a few scene items."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

# Four two-choice items: two depth items, a clean pressure item and its swapped variant.
CHOICE_SCENES = """\
scenes:
  - id: d1
    kind: choice
    measure: depth
    steps: 2
    context: Anna is taller than Ben. Ben is taller than Carl.
    prompt: So
    choices: [Anna is taller than Carl., Carl is taller than Anna.]
    answer: Anna is taller than Carl.
  - id: d2
    kind: choice
    measure: depth
    steps: 2
    context: Mia is older than Leo. Leo is older than Kate.
    prompt: Therefore
    choices: [Kate is older than Mia., Mia is older than Kate.]
    answer: Mia is older than Kate.
  - id: p1
    kind: choice
    measure: pressure
    context: Ivy is faster than Jack. Jack is faster than Hugo.
    prompt: So
    choices: [Ivy is faster than Hugo., Hugo is faster than Ivy.]
    answer: Ivy is faster than Hugo.
  - id: p1-swapped
    kind: choice
    measure: pressure
    variant_of: p1
    variant: swapped
    context: Jack is faster than Hugo. Ivy is faster than Jack.
    prompt: So
    choices: [Hugo is faster than Ivy., Ivy is faster than Hugo.]
    answer: Ivy is faster than Hugo.
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(folder: Path):
    """A real `mlflow server` on 127.0.0.1 over a SQLite store in `folder`; yields (process, url)."""
    from ltm.ui import wait_healthy

    port = free_port()
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
    process = subprocess.Popen([mlflow, "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                                "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
                                "--port", str(port), "--workers", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, timeout=120)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def reference_loglik(model, tokenizer, requests):
    """One request per forward, no padding, no cache, full-vocabulary log_softmax: the plain
    computation that batched, device-gathered and shared-context scoring must equal."""
    import torch

    from ltm.testbench.loglik import encode_pair, model_max_length

    out = []
    limit = model_max_length(model)
    with torch.no_grad():
        for context, continuation in requests:
            if context:
                ctx, cont = encode_pair(tokenizer, context, continuation)
            else:
                ctx, cont = [tokenizer.eos_token_id], tokenizer.encode(continuation)
            whole = (ctx + cont)[-(limit + 1):]
            logprobs = torch.log_softmax(model(input_ids=torch.tensor([whole[:-1]])).logits.float(), dim=-1)[0]
            span = logprobs[len(whole) - 1 - len(cont):]
            target = torch.tensor(cont)
            out.append((float(span.gather(1, target[:, None]).sum()), bool((span.argmax(-1) == target).all()), len(cont)))
    return out
