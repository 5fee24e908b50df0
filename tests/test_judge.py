"""The judge: reply parsing, an OpenAI-compatible endpoint (a real local HTTP server), the cache, the local scorer."""

from __future__ import annotations

import json
import math
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ltm.errors import LtmError
from ltm.testbench.judge import (
    Judge,
    LocalBackend,
    OpenAIBackend,
    grade_prompt,
    make_judge,
    pair_prompt,
    parse_preference,
    parse_verdict,
)

SECRET = "sk-test-PLANTED-0123456789abcdef"

# --------------------------------------------------------------------------- parsing

VERDICTS = [
    ("Score: 7\nCritique: Correct but skips a step.", 7.0, "Correct but skips a step."),
    ("7/10 - good", 7.0, "good"),
    ("**Score**: 8.5\n**Critique**: Clear and complete.", 8.5, "Clear and complete."),
    ("Rating: 3 out of 10\nThe answer ignores the second principle.", 3.0, "The answer ignores the second principle."),
    ("score = 10\ncritique: flawless", 10.0, "flawless"),
    ("I'd give this 6/10 because the reasoning is thin.", 6.0, "I'd give this because the reasoning is thin."),
    ("9\nNearly perfect.", 9.0, "Nearly perfect."),
    ("Critique: wrong total.\nScore: 2", 2.0, "wrong total."),
    ("Score: 0\nCritique: empty answer", None, "empty answer"),  # out of range: not clamped
    ("Score: 11", None, ""),
    ("Score: 85/100", None, ""),
    ("Score: 4/5\nCritique: decent", None, "decent"),  # another scale: no 1-10 score
    ("Score: 9/10", 9.0, ""),
    ("The answer is fine but could be clearer.", None, "The answer is fine but could be clearer."),
    ("Score: N/A — the answer is blank", None, None),
    ("", None, ""),
]


@pytest.mark.parametrize("reply,score,critique", VERDICTS)
def test_parse_verdict(reply, score, critique):
    got_score, got_critique = parse_verdict(reply)
    assert got_score == score
    if critique is not None:
        assert got_critique == critique


def test_parse_verdict_collapses_and_caps_the_critique():
    score, critique = parse_verdict("Score: 5\nCritique:   too\n\n   long " + "word " * 200)
    assert score == 5.0
    assert "\n" not in critique and "  " not in critique
    assert critique.startswith("too long word") and len(critique) <= 300


PREFERENCES = [
    ("Winner: A\nReason: it shows its steps.", "A"),
    ("Winner: B", "B"),
    ("**Winner**: Answer B", "B"),
    ("Answer B is better because it is correct.", "B"),
    ("Response A is clearly better.", "A"),
    ("[[A]]", "A"),
    ("After careful thought: [[B]]", "B"),
    ("[[C]]", "tie"),
    ("tie", "tie"),
    ("Winner: tie — both are equally good.", "tie"),
    ("Both answers are equally good.", "tie"),
    ("I prefer answer A.", "A"),
    ("B", "B"),
    ("I cannot decide.", "tie"),
    ("", "tie"),
]


@pytest.mark.parametrize("reply,expected", PREFERENCES)
def test_parse_preference(reply, expected):
    assert parse_preference(reply) == expected


# --------------------------------------------------------------------------- a real OpenAI-compatible server


def _answers_in(prompt: str) -> tuple[str, str] | None:
    match = re.search(r"## Answer A\n(.*?)\n\n## Answer B\n(.*?)\n\n## Instructions", prompt, re.S)
    return (match.group(1), match.group(2)) if match else None


def _graded_answer(prompt: str) -> str:
    return re.search(r"## Answer\n(.*?)\n\n## Instructions", prompt, re.S).group(1)


@dataclass
class Server:
    url: str
    requests: list
    authorizations: list
    mode: dict


@pytest.fixture
def judge_server():
    """POST /v1/chat/completions; grades by answer length, pairwise by `mode` ("first" = always A, "longer")."""
    requests: list = []
    authorizations: list = []
    mode = {"pair": "first", "status": 200, "body": None}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            payload = json.loads(self.rfile.read(length))
            requests.append({"path": self.path, "json": payload})
            authorizations.append(self.headers.get("Authorization"))
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            if mode["status"] != 200:
                self.send_error(mode["status"])
                return
            prompt = payload["messages"][0]["content"]
            pair = _answers_in(prompt)
            if pair is not None:
                if mode["pair"] == "first":
                    reply = "Winner: A\nReason: the first answer reads better."
                else:
                    a, b = pair
                    reply = "Winner: A" if len(a) > len(b) else "Winner: B" if len(b) > len(a) else "Winner: tie"
            else:
                answer = _graded_answer(prompt)
                reply = f"Score: {min(10, 1 + len(answer) // 10)}\nCritique: {len(answer)} characters long."
            body = mode["body"] or json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{server.server_address[1]}/v1", requests, authorizations, mode)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class JudgeConfig:  # the attributes make_judge reads from testbench.judge
    backend: str = "openai"
    model: str | None = "judge-model"
    url: str | None = None
    api_key_env: str | None = None


PRINCIPLES = ["State the final number.", "Show the arithmetic."]
TASK = "Mia has 3 apples and buys 4 more. How many apples does she have?"


def test_openai_judge_grades_sends_key_and_caches(judge_server, tmp_path, monkeypatch):
    monkeypatch.setenv("LTM_TEST_JUDGE_KEY", SECRET)
    cache = tmp_path / "judge" / "verdicts.jsonl"
    judge = make_judge(JudgeConfig(url=judge_server.url, api_key_env="LTM_TEST_JUDGE_KEY"), cache)

    verdict = judge.grade(TASK, "3 + 4 = 7, so she has 7 apples.", PRINCIPLES, reference="7")
    assert verdict.score == 4.0 and not verdict.cached
    assert verdict.critique == f"{len('3 + 4 = 7, so she has 7 apples.')} characters long."
    assert verdict.raw.startswith("Score: 4")
    assert len(judge_server.requests) == 1
    sent = judge_server.requests[0]["json"]
    assert sent["model"] == "judge-model" and sent["temperature"] == 0
    prompt = sent["messages"][0]["content"]
    assert TASK in prompt and "1. State the final number.\n2. Show the arithmetic." in prompt
    assert "## Reference answer\n7" in prompt and "Score: <1-10>" in prompt
    assert judge_server.authorizations == [f"Bearer {SECRET}"]

    again = judge.grade(TASK, "3 + 4 = 7, so she has 7 apples.", PRINCIPLES, reference="7")
    assert again.cached and again.score == verdict.score and again.critique == verdict.critique
    assert len(judge_server.requests) == 1  # served from the cache

    # a fresh Judge on the same file reads the cache from disk
    reloaded = make_judge(JudgeConfig(url=judge_server.url, api_key_env="LTM_TEST_JUDGE_KEY"), cache)
    assert reloaded.grade(TASK, "3 + 4 = 7, so she has 7 apples.", PRINCIPLES, reference="7").cached
    assert len(judge_server.requests) == 1

    changed = judge.grade(TASK, "7", PRINCIPLES, reference="7")
    assert not changed.cached and changed.score == 1.0
    assert len(judge_server.requests) == 2

    # the key is never stored, cached or shown
    assert SECRET not in cache.read_text()
    assert SECRET not in repr(judge) and SECRET not in repr(judge.backend)
    assert SECRET not in repr(vars(judge.backend))
    assert judge.name == f"openai:{judge_server.url}:judge-model"
    records = [json.loads(line) for line in cache.read_text().splitlines()]
    assert [r["kind"] for r in records] == ["grade", "grade"]
    assert all(len(r["key"]) == 64 for r in records)


def test_no_key_header_without_api_key_env(judge_server, tmp_path):
    judge = Judge(OpenAIBackend(judge_server.url, "m"), tmp_path / "c.jsonl")
    judge.grade(TASK, "7", PRINCIPLES)
    assert judge_server.authorizations == [None]


def test_position_biased_judge_gives_no_preference(judge_server, tmp_path):
    judge = Judge(OpenAIBackend(judge_server.url, "m"), tmp_path / "c.jsonl")
    pair = judge.compare(TASK, "7", "3 + 4 = 7 apples.", PRINCIPLES)
    assert (pair.preference, pair.first_order, pair.second_order) == (0.0, "A", "B")
    assert len(judge_server.requests) == 2
    # both orders were really shown: the second prompt has the answers swapped
    first, second = (_answers_in(r["json"]["messages"][0]["content"]) for r in judge_server.requests)
    assert first == ("7", "3 + 4 = 7 apples.") and second == ("3 + 4 = 7 apples.", "7")

    again = judge.compare(TASK, "7", "3 + 4 = 7 apples.", PRINCIPLES)
    assert again.cached and again.preference == 0.0 and len(judge_server.requests) == 2


def test_consistent_judge_gives_full_preference(judge_server, tmp_path):
    judge_server.mode["pair"] = "longer"
    judge = Judge(OpenAIBackend(judge_server.url, "m"), tmp_path / "c.jsonl")
    long_answer = "3 + 4 = 7, so she has 7 apples."
    a_wins = judge.compare(TASK, long_answer, "7", PRINCIPLES)
    assert (a_wins.preference, a_wins.first_order, a_wins.second_order) == (1.0, "A", "A")
    b_wins = judge.compare(TASK, "7", long_answer, PRINCIPLES)
    assert (b_wins.preference, b_wins.first_order, b_wins.second_order) == (-1.0, "B", "B")
    tie = judge.compare(TASK, "7", "8", PRINCIPLES)
    assert (tie.preference, tie.first_order, tie.second_order) == (0.0, "tie", "tie")


def test_missing_env_var_is_a_one_line_error(judge_server, tmp_path, monkeypatch):
    monkeypatch.delenv("LTM_TEST_JUDGE_KEY", raising=False)
    judge = make_judge(JudgeConfig(url=judge_server.url, api_key_env="LTM_TEST_JUDGE_KEY"), tmp_path / "c.jsonl")
    with pytest.raises(LtmError) as info:
        judge.grade(TASK, "7", PRINCIPLES)
    message = str(info.value)
    assert message == "judge: environment variable LTM_TEST_JUDGE_KEY is not set — export it or remove `testbench.judge.api_key_env`"
    assert judge_server.requests == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_closed_port_is_a_one_line_error_without_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("LTM_TEST_JUDGE_KEY", SECRET)
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    backend = OpenAIBackend(url, "m", api_key_env="LTM_TEST_JUDGE_KEY", timeout=5, backoff=0.01)
    with pytest.raises(LtmError) as info:
        Judge(backend, tmp_path / "c.jsonl").grade(TASK, "7", PRINCIPLES)
    message = str(info.value)
    assert "\n" not in message and SECRET not in message
    assert url in message and "testbench.judge.url" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert not (tmp_path / "c.jsonl").exists()  # nothing cached for a failed call


def test_http_errors_and_bad_json_are_one_line_errors(judge_server, tmp_path, monkeypatch):
    monkeypatch.setenv("LTM_TEST_JUDGE_KEY", SECRET)
    backend = OpenAIBackend(judge_server.url, "m", api_key_env="LTM_TEST_JUDGE_KEY", backoff=0.01)
    judge = Judge(backend, tmp_path / "c.jsonl")

    judge_server.mode["status"] = 503  # retried twice, then reported
    with pytest.raises(LtmError) as info:
        judge.grade(TASK, "7", PRINCIPLES)
    assert len(judge_server.requests) == 3
    assert "HTTP 503" in str(info.value) and "\n" not in str(info.value) and SECRET not in str(info.value)

    judge_server.mode["status"] = 401  # not retried
    with pytest.raises(LtmError) as info:
        judge.grade(TASK, "7", PRINCIPLES)
    assert len(judge_server.requests) == 4
    assert "HTTP 401" in str(info.value) and "LTM_TEST_JUDGE_KEY" in str(info.value) and SECRET not in str(info.value)

    judge_server.mode["status"] = 200
    judge_server.mode["body"] = b"<html>not json</html>"
    with pytest.raises(LtmError) as info:
        judge.grade(TASK, "7", PRINCIPLES)
    message = str(info.value)
    assert "\n" not in message and judge_server.url in message and SECRET not in message

    wrong_path = Judge(OpenAIBackend(judge_server.url.removesuffix("/v1"), "m"), None)
    judge_server.mode["body"] = None
    with pytest.raises(LtmError, match="HTTP 404 .*testbench.judge.url"):
        wrong_path.grade(TASK, "7", PRINCIPLES)


def test_make_judge_names_missing_settings(tmp_path):
    with pytest.raises(LtmError, match="testbench.judge.url"):
        make_judge(JudgeConfig(url=None), tmp_path / "c.jsonl")
    with pytest.raises(LtmError, match="testbench.judge.model"):
        make_judge(JudgeConfig(url="http://127.0.0.1:1/v1", model=None), tmp_path / "c.jsonl")


def test_unparseable_reply_gives_no_score(judge_server, tmp_path):
    body = json.dumps({"choices": [{"message": {"content": "I would rather not grade this."}}]}).encode()
    judge_server.mode["body"] = body
    verdict = Judge(OpenAIBackend(judge_server.url, "m"), tmp_path / "c.jsonl").grade(TASK, "7", PRINCIPLES)
    assert verdict.score is None and verdict.critique == "I would rather not grade this."


def test_cache_survives_a_torn_last_line(judge_server, tmp_path):
    cache = tmp_path / "c.jsonl"
    judge = Judge(OpenAIBackend(judge_server.url, "m"), cache)
    judge.grade(TASK, "7", PRINCIPLES)
    judge.grade(TASK, "seven", PRINCIPLES)
    with open(cache, "a") as handle:  # a run killed mid-write
        handle.write('{"key": "abc", "kind": "gra')
    reopened = Judge(OpenAIBackend(judge_server.url, "m"), cache)
    assert reopened.grade(TASK, "7", PRINCIPLES).cached
    assert reopened.grade(TASK, "seven", PRINCIPLES).cached
    assert len(judge_server.requests) == 2
    reopened.grade(TASK, "eight", PRINCIPLES)  # the next append starts on a clean line
    lines = cache.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["kind"] == "grade" for line in lines)


# --------------------------------------------------------------------------- the local scorer on ltm-nano


@pytest.fixture(scope="module")
def nano():
    from ltm.basemodel import load_model, load_tokenizer, resolve

    ref = resolve("ltm-nano")
    return load_model(ref), load_tokenizer("ltm-nano")


class CountingContext:
    """A real disable_adapter stand-in: counts how often the judge switched adapters off."""

    def __init__(self):
        self.entered = 0

    def __call__(self):
        import contextlib

        self.entered += 1
        return contextlib.nullcontext()


def test_local_judge_scores_deterministically(nano, tmp_path):
    model, tokenizer = nano
    model.train()
    disable = CountingContext()
    judge = make_judge(JudgeConfig(backend="local", model=None), tmp_path / "local.jsonl",
                       local_model=model, local_tokenizer=tokenizer, disable_adapter=disable)
    assert judge.name.startswith("local:")
    first = judge.grade(TASK, "3 + 4 = 7, so she has 7 apples.", PRINCIPLES)
    assert 1.0 <= first.score <= 10.0
    assert isinstance(first.critique, str) and len(first.critique) <= 300
    assert disable.entered >= 1 and model.training  # adapters off while judging; mode restored

    uncached = Judge(LocalBackend(model, tokenizer), None).grade(TASK, "3 + 4 = 7, so she has 7 apples.", PRINCIPLES)
    assert uncached.score == first.score and uncached.critique == first.critique and not uncached.cached

    cached = judge.grade(TASK, "3 + 4 = 7, so she has 7 apples.", PRINCIPLES)
    assert cached.cached and cached.score == first.score
    other = judge.grade(TASK, "The answer is 12.", PRINCIPLES)
    assert not other.cached and 1.0 <= other.score <= 10.0


def test_local_judge_compares_in_both_orders(nano, tmp_path):
    model, tokenizer = nano
    backend = LocalBackend(model, tokenizer)
    seen = []
    prefer = backend.prefer

    def recording_prefer(prompt):
        seen.append(_answers_in(prompt))
        return prefer(prompt)

    backend.prefer = recording_prefer
    pair = Judge(backend, tmp_path / "pairs.jsonl").compare(TASK, "7 apples.", "12 apples.", PRINCIPLES)
    assert seen == [("7 apples.", "12 apples."), ("12 apples.", "7 apples.")]
    assert pair.first_order in ("A", "B", "tie") and pair.second_order in ("A", "B", "tie")
    assert -1.0 <= pair.preference <= 1.0


def test_local_judge_from_a_model_spec(tmp_path):
    from ltm.basemodel import resolve

    judge = make_judge(JudgeConfig(backend="local", model="ltm-nano"), tmp_path / "c.jsonl")
    assert judge.name == f"local:{resolve('ltm-nano').fingerprint}"
    assert 1.0 <= judge.grade(TASK, "7", PRINCIPLES).score <= 10.0


def test_local_judge_sees_the_base_with_adapters_disabled(nano):
    from peft import LoraConfig, get_peft_model

    from ltm.basemodel import load_model, resolve

    base_model, tokenizer = nano
    base = Judge(LocalBackend(base_model, tokenizer), None).grade(TASK, "7", PRINCIPLES)
    # init_lora_weights=False: a random, non-zero LoRA that really changes the outputs
    peft_model = get_peft_model(load_model(resolve("ltm-nano")), LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                                            init_lora_weights=False))
    with_adapter = Judge(LocalBackend(peft_model, tokenizer), None).grade(TASK, "7", PRINCIPLES)
    judged_base = LocalBackend(peft_model, tokenizer, disable_adapter=peft_model.disable_adapter)
    without = Judge(judged_base, None).grade(TASK, "7", PRINCIPLES)
    assert with_adapter.score != base.score
    assert without.score == pytest.approx(base.score, abs=1e-5)
    assert judged_base.name == LocalBackend(base_model, tokenizer).name  # LoRA weights are not in the identity


def test_local_judge_uses_a_chat_template(nano):
    from ltm.basemodel import load_tokenizer

    model, _ = nano
    tokenizer = load_tokenizer("ltm-nano")
    tokenizer.chat_template = "{% for m in messages %}User: {{ m['content'] }}\n{% endfor %}Judge:\n"
    verdict = Judge(LocalBackend(model, tokenizer), None).grade(TASK, "7", PRINCIPLES)
    assert 1.0 <= verdict.score <= 10.0 and isinstance(verdict.critique, str)


# --------------------------------------------------------------------------- multi-token scores (digit-splitting tokenizers)
#
# Qwen2 / Llama-3 / SmolLM2-style pre-tokenizers write " 10" as " " + "1" + "0": no single
# next token after "Score:" is a score. These tests build such a tokenizer in-test and a
# real Llama whose next-token distribution is set by hand (a bigram model: attention and
# MLP outputs are zeroed, so the logits depend only on the current token), which makes the
# judge's intended score — and the exact expected value — known in advance.


@pytest.fixture(scope="module")
def split_tokenizer():
    """A byte-level BPE trained on judge prompts whose pre-tokenizer isolates spaces and single digits."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [grade_prompt(TASK, a, PRINCIPLES) + f"\nScore: {n}\nCritique: Fine.\n"
             for n, a in enumerate(["7", "3 + 4 = 7 apples.", "12"], 1)]
    texts += [pair_prompt(TASK, a, b, PRINCIPLES) + "\nWinner: A\nReason: Right.\n" for a, b in [("7", "12"), ("12", "7"), ("7", "8")]]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(" ", behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainer=trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def _pieces(tokenizer, text: str) -> list[str]:
    return tokenizer.convert_ids_to_tokens(tokenizer.encode(text, add_special_tokens=False))


def bigram_llama(tokenizer, table: dict[str, dict[str, float]]):
    """A 2-layer LlamaForCausalLM with p(next | current) = ``table[current]`` (token strings as the
    tokenizer spells them); mass a row leaves over, and every token without a row, is spread evenly.

    Each block's attention and MLP outputs are zeroed, so the residual stream stays the current
    token's embedding: a one-hot of its row (tokens without a row share one more direction), which
    the final RMSNorm scales by a constant and the LM head maps to that row's log-probabilities.
    The hidden size is the number of rows + 1, so a 49,152-token vocabulary costs nothing."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab, hidden = len(tokenizer), len(table) + 1
    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=8, num_hidden_layers=2,
                         num_attention_heads=1, num_key_value_heads=1, head_dim=8, max_position_embeddings=4096,
                         tie_word_embeddings=False, pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config).eval()
    logprobs = torch.full((hidden, vocab), -math.log(vocab))  # row 0: every token without a row of its own
    embed = torch.zeros(vocab, hidden)
    embed[:, 0] = 1.0
    for k, (current, row) in enumerate(table.items(), 1):
        i = tokenizer.convert_tokens_to_ids(current)
        given = {tokenizer.convert_tokens_to_ids(t): p for t, p in row.items()}
        assert i is not None and None not in given, f"{current!r} or one of {list(row)} is not a token"
        rest = (1.0 - sum(given.values())) / (vocab - len(given))
        logprobs[k] = math.log(rest)
        for j, p in given.items():
            logprobs[k, j] = math.log(p)
        embed[i] = torch.nn.functional.one_hot(torch.tensor(k), hidden).float()
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.copy_(embed)
        scale = float(model.model.norm(torch.eye(hidden)[:1])[0, 0])  # the final RMSNorm's gain on a one-hot
        model.lm_head.weight.copy_(logprobs.T / scale)
    return model


def _score(tokenizer, table) -> float:
    return Judge(LocalBackend(bigram_llama(tokenizer, table), tokenizer), None).grade(TASK, "7", PRINCIPLES).score


def test_the_split_tokenizer_spells_scores_and_labels_over_several_tokens(split_tokenizer):
    assert _pieces(split_tokenizer, "Score: 10\n") == ["Score:", "Ġ", "1", "0", "Ċ"]
    assert _pieces(split_tokenizer, "Winner: A") == ["Winner:", "Ġ", "A"]


def test_bigram_llama_has_the_distribution_it_was_given(split_tokenizer):
    import torch

    model = bigram_llama(split_tokenizer, {"0": {"Ċ": 0.9}})
    ids = torch.tensor([split_tokenizer.encode("Score: 10")])
    with torch.no_grad():
        probs = model(input_ids=ids).logits[0, -1].softmax(-1)
    assert float(probs[split_tokenizer.convert_tokens_to_ids("Ċ")]) == pytest.approx(0.9, abs=1e-4)


MEANS_10 = {"Score:": {"Ġ": 0.97}, "Ġ": {"1": 0.97}, "1": {"0": 0.97}, "0": {"Ċ": 0.97}}


def test_local_judge_reads_a_ten_spelled_over_three_tokens(split_tokenizer):
    # the judge writes " 10\n" with probability ~0.88; the first token after "Score:" is " " and the next is "1"
    assert _score(split_tokenizer, MEANS_10) >= 9.5


def test_local_judge_does_not_let_one_win_as_the_prefix_of_ten(split_tokenizer):
    means_1 = {"Score:": {"Ġ": 0.97}, "Ġ": {"1": 0.97}, "1": {"Ċ": 0.97}}
    assert _score(split_tokenizer, means_1) <= 1.5
    means_7 = {"Score:": {"Ġ": 0.97}, "Ġ": {"7": 0.97}, "7": {"Ċ": 0.97}}
    assert _score(split_tokenizer, means_7) == pytest.approx(7.0, abs=0.3)


def test_local_judge_score_is_the_expected_value_over_whole_numbers(split_tokenizer):
    """Half " 1\\n", half " 10\\n" (the other numbers nearly impossible): the expected score is about 5.5."""
    table = {"Score:": {"Ġ": 0.999}, "Ġ": {"1": 0.999}, "1": {"0": 0.5, "Ċ": 0.4999}, "0": {"Ċ": 0.999}}
    assert _score(split_tokenizer, table) == pytest.approx(5.5, abs=0.05)


def test_local_judge_prefers_a_label_spelled_over_two_tokens(split_tokenizer):
    table = {"Winner:": {"Ġ": 0.97}, "Ġ": {"B": 0.97}, "B": {"Ċ": 0.97}}
    backend = LocalBackend(bigram_llama(split_tokenizer, table), split_tokenizer)
    pair = Judge(backend, None).compare(TASK, "7", "12", PRINCIPLES)
    assert (pair.first_order, pair.second_order) == ("B", "A")  # the judge always names the second shown
    assert pair.preference == 0.0


def test_candidates_scored_in_one_batched_pass_match_separate_forwards(split_tokenizer):
    """The shared prefix runs once, the candidates together on its cache: each candidate's value must
    equal its own sequence log-probability plus the boundary, computed here the slow way with one
    forward per candidate on a random Llama whose attention is real. The model's context (64) is
    shorter than the prompt, so this also checks the left truncation keeps room for the longest candidate."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = split_tokenizer
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                         initializer_range=0.3)  # large weights: the context visibly moves the candidates
    model = LlamaForCausalLM(config).eval()
    backend = LocalBackend(model, tok)
    calls = []
    model.register_forward_pre_hook(lambda module, args, kwargs: calls.append(1), with_kwargs=True)
    prompt = grade_prompt(TASK, "7", PRINCIPLES)
    continuations = [" 1", " 10", "7", "10", " A"]
    with torch.no_grad():
        got = backend._continuation_logprobs(prompt, "Score:", continuations)
    assert len(calls) == 2  # the prefix, then every candidate in one batch

    context = tok.encode(prompt + "\nScore:")
    assert len(context) > 64
    word = torch.tensor([tok.decode([i])[:1].isalnum() for i in range(len(tok))])
    for continuation, value in zip(continuations, got, strict=True):
        own = tok.encode(prompt + "\nScore:" + continuation)[len(context):]
        ids = context[-(64 - 3):] + own  # the longest candidate (" 10") is 3 tokens
        with torch.no_grad():
            logp = model(input_ids=torch.tensor([ids])).logits[0].log_softmax(-1)
        start = len(ids) - len(own)
        expected = sum(float(logp[start - 1 + j, t]) for j, t in enumerate(own))
        expected += float(torch.logsumexp(logp[-1][~word], dim=0))
        assert value == pytest.approx(expected, abs=1e-4), continuation


@pytest.mark.slow
def test_a_trained_judge_reads_ten_one_and_seven_on_the_split_tokenizer():
    """Not set by hand: a tiny Llama trained (120 steps: 9 s on 2 idle cores, about a minute on busy ones) to
    grade three answers 10, 1 and 7 in the judge's own prompt, on a SmolLM2-style tokenizer
    (single digits, the space on its own). The old next-token reader gave 2.3, 1.9 and 2.1."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    graded = {"3 + 4 = 7, so she has 7 apples.": 10, "She has 12 apples.": 1, "7": 7}
    texts = [grade_prompt(TASK, a, PRINCIPLES) + f"\nScore: {n}\nCritique: graded {n}.\n" for a, n in graded.items()]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainer=trainers.BpeTrainer(
        vocab_size=1200, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    assert _pieces(tokenizer, "Score: 10\n")[-4:] == ["Ġ", "1", "0", "Ċ"]

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=48, intermediate_size=96,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=512, tie_word_embeddings=False))
    rows = [torch.tensor(tokenizer.encode(t)) for t in texts]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        labels[i, : len(row)] = row
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(120):
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1

    judge = Judge(LocalBackend(model, tokenizer), None)
    scores = {n: judge.grade(TASK, answer, PRINCIPLES).score for answer, n in graded.items()}
    assert scores[10] >= 9.0 and scores[1] <= 2.0 and scores[7] == pytest.approx(7.0, abs=1.0), scores


@pytest.mark.slow
def test_the_smollm2_tokenizer_spells_scores_as_the_judge_scores_them():
    """The real base ltm ships (`smollm2-135m`, ltm/realbase.py; only its tokenizer is loaded, from
    the folder converted once per machine) writes " 10" as " " + "1" + "0" after the chat template's
    "Score:". Each candidate must be spelled that way, and a judge meaning 10 must score 10."""
    from ltm.basemodel import load_tokenizer

    tokenizer = load_tokenizer("smollm2-135m")
    assert tokenizer.chat_template  # the judge reads the prompt through it
    prompt = grade_prompt(TASK, "7", PRINCIPLES)
    shell = LocalBackend(bigram_llama(tokenizer, {}), tokenizer)
    text, special = shell._context_text(prompt)
    context = tokenizer.encode(text + "Score:", add_special_tokens=special)
    for label in LocalBackend.SCORE_LABELS:
        for spelling, expected in (("", list(label)), (" ", ["Ġ", *label])):
            full = tokenizer.encode(text + "Score:" + spelling + label, add_special_tokens=special)
            assert full[: len(context)] == context
            assert tokenizer.convert_ids_to_tokens(full[len(context):]) == expected

    last = tokenizer.convert_ids_to_tokens(context[-1:])[0]  # ":"
    means_10 = {last: {"Ġ": 0.97}, "Ġ": {"1": 0.97}, "1": {"0": 0.97}, "0": {"Ċ": 0.97}}
    means_1 = {last: {"Ġ": 0.97}, "Ġ": {"1": 0.97}, "1": {"Ċ": 0.97}}
    assert _score(tokenizer, means_10) >= 9.5
    assert _score(tokenizer, means_1) <= 1.5
