"""A hub id as base.model: `ltm base ID` downloads it once (also under the Makefile's
HF_HUB_OFFLINE=1, which used to stop every run at step 1), and every other command then finds it
in the Hugging Face cache offline. Without it, the error names the command that fetches it.

The hub is a local HTTP server on 127.0.0.1 speaking the endpoints huggingface_hub calls
(`HF_ENDPOINT`): model info, file tree, resolve (HEAD + GET); it serves the files of the
ltm-nano folder as the repository `org/nano`."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading

import pytest

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hub_server(files: dict[str, bytes], requests: list[str]):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code: int, body: bytes, headers: dict, head: bool) -> None:
            self.send_response(code)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _answer(self, head: bool) -> None:
            path = self.path.split("?")[0]
            requests.append(f"{self.command} {path}")
            if path.startswith("/api/models/org/nano/tree/"):
                tree = [{"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                        for name, data in files.items()]
                return self._send(200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, head)
            if path.startswith("/api/models/org/nano"):
                info = {"id": "org/nano", "sha": COMMIT, "siblings": [{"rfilename": name} for name in files]}
                return self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, head)
            prefix = f"/org/nano/resolve/{COMMIT}/"
            if path.startswith(prefix) or path.startswith("/org/nano/resolve/main/"):
                name = path.rsplit("/resolve/", 1)[1].split("/", 1)[1]
                if name in files:
                    data = files[name]
                    headers = {"ETag": f'"{hashlib.sha1(data).hexdigest()}"', "X-Repo-Commit": COMMIT}
                    return self._send(200, data, headers, head)
            return self._send(404, b"{}", {"X-Error-Code": "EntryNotFound", "Content-Type": "application/json"}, head)

        def do_GET(self):
            self._answer(False)

        def do_HEAD(self):
            self._answer(True)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def ltm(args: list[str], env: dict, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ltm.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_ltm_base_downloads_a_hub_id_once_and_the_rest_runs_offline(tmp_path):
    from ltm import basemodel

    nano = basemodel.resolve("ltm-nano").path
    files = {p.name: p.read_bytes() for p in sorted(nano.iterdir()) if p.is_file() and not p.name.startswith(".")}
    requests: list[str] = []
    server = hub_server(files, requests)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"),
                   HF_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}", HF_HUB_DISABLE_TELEMETRY="1")
        config = tmp_path / "exp.yaml"
        config.write_text(f"runs_dir: {tmp_path / 'runs'}\nbase:\n  model: org/nano\n")

        # Offline and not cached: one line naming the command that fetches it; nothing was asked of the hub.
        (tmp_path / "notes.txt").write_text("All birds have wings. A robin is a bird.\n")
        before = ltm(["corpora", "--config", str(config), str(tmp_path / "notes.txt")], env, tmp_path)
        assert before.returncode != 0
        errors = [line for line in before.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "`ltm base org/nano`" in errors[0], before.stderr
        assert "Traceback" not in before.stderr
        assert requests == []

        # `ltm base org/nano` downloads it despite HF_HUB_OFFLINE=1, with progress on stderr.
        fetched = ltm(["base", "org/nano", "--config", str(config)], env, tmp_path)
        assert fetched.returncode == 0, fetched.stderr
        assert "downloading org/nano" in fetched.stderr
        assert f"fingerprint org--nano@{COMMIT[:12]}" in fetched.stdout
        assert any(r.startswith("GET /org/nano/resolve/") and r.endswith("/model.safetensors") for r in requests)

        # Afterwards the model is in the cache: resolved and described offline without the hub.
        server.shutdown()
        asked = len(requests)
        again = ltm(["base", "--config", str(config), "--json"], env, tmp_path)
        assert again.returncode == 0, again.stderr
        info = json.loads(again.stdout)
        assert info["kind"] == "hub" and info["fingerprint"] == f"org--nano@{COMMIT[:12]}"
        assert len(requests) == asked
    finally:
        server.server_close()


@pytest.mark.parametrize("spec", ["ltm-nano"])
def test_ltm_base_still_resolves_embedded_bases_without_the_hub(spec, capsys):
    from ltm.cli import main

    assert main(["base", spec]) == 0
    assert f"base {spec}: embedded" in capsys.readouterr().out
