"""The HTTP client for a judge behind any OpenAI-compatible chat endpoint (vLLM, llama.cpp
server, OpenAI, ...): retries on server errors and dropped connections, one-line errors with
a hint, and an API key that is read at call time and never stored, logged or shown."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

from ...errors import LtmError


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OpenAIBackend:
    """Any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, OpenAI, ...).

    The API key is read from ``os.environ[api_key_env]`` at call time and never stored.
    """

    def __init__(self, url: str, model: str, api_key_env: str | None = None, timeout: float = 60,
                 retries: int = 2, backoff: float = 0.5):
        self.url = url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        parts = urllib.parse.urlsplit(self.url)  # credentials in the URL never reach names, caches or messages
        self.shown_url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl() if "@" in parts.netloc else self.url
        self.name = f"openai:{self.shown_url}:{model}"

    def __repr__(self) -> str:
        return f"OpenAIBackend(url={self.shown_url!r}, model={self.model!r}, api_key_env={self.api_key_env!r})"

    @property
    def endpoint(self) -> str:
        return f"{self.url}/chat/completions"

    def _key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise LtmError(f"judge: environment variable {self.api_key_env} is not set — export it or remove `testbench.judge.api_key_env`")
        return key

    def _opener(self):
        host = urllib.parse.urlsplit(self.url).hostname or ""
        if host in ("localhost", "127.0.0.1", "::1"):  # never send a local judge through a proxy
            return urllib.request.build_opener(urllib.request.ProxyHandler({}))
        return urllib.request.build_opener()

    def complete(self, prompt: str) -> str:
        key = self._key()
        body = json.dumps({"model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0}).encode()
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        opener = self._opener()
        endpoint, shown = self.endpoint, f"{self.shown_url}/chat/completions"
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * attempt)
            request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
            try:
                with opener.open(request, timeout=self.timeout) as response:
                    payload = response.read()
            except urllib.error.HTTPError as exc:
                code = exc.code
                with contextlib.suppress(Exception):
                    exc.close()
                if code >= 500:
                    problem = f"HTTP {code}"
                    continue
                hint = ("check `testbench.judge.url` (it should end in /v1)" if code == 404 else
                        f"check the API key in ${self.api_key_env}" if code in (401, 403) and self.api_key_env else
                        "check `testbench.judge.model` and `testbench.judge.url`")
                raise LtmError(self._scrub(f"judge: {shown} answered HTTP {code} — {hint}", key)) from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                problem = _one_line(reason if str(reason) else type(exc).__name__)
                continue
            return self._content(payload, shown, key)
        raise LtmError(self._scrub(
            f"judge: cannot reach {shown} ({problem}) after {self.retries + 1} tries — "
            "start the judge server or fix `testbench.judge.url`", key)) from None

    def _content(self, payload: bytes, endpoint: str, key: str | None) -> str:
        try:
            data = json.loads(payload.decode("utf-8"))
            content = data["choices"][0]["message"]["content"]
            if not isinstance(content, str):
                raise TypeError("content is not a string")
            return content
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            detail = _one_line(f"{type(exc).__name__}: {exc}", 80)
            raise LtmError(self._scrub(
                f"judge: {endpoint} did not return chat-completion JSON ({detail}) — "
                "point `testbench.judge.url` at an OpenAI-compatible /v1 base URL", key)) from None

    @staticmethod
    def _scrub(message: str, key: str | None) -> str:
        return message.replace(key, "***") if key else message
