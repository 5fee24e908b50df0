"""Log-likelihood and perplexity gather the target tokens' log-probabilities on the model's
device and move only those per-token values to the host, in batches bounded by a token budget.

On a 152k-vocabulary model a perplexity batch of 8 × 2,048 tokens is 10 GB of fp32
log-probabilities; only its 16k target values are needed. These tests run on CPU (ltm-nano),
where "moved to the host" is every `.cpu()` / `.to("cpu")` / `.tolist()` / `.numpy()` the scoring
code calls: the recorder passes each call through unchanged and notes the tensor's shape.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers import reference_loglik

from ltm.testbench.loglik import loglikelihood, model_max_length
from ltm.testbench.perplexity import perplexity

REQUESTS = [
    ("Every zorp is a dax. Will is a zorp. So Will is", " a dax"),
    ("Emma has the cup. Emma gives the cup to Will. So now", " Will has the cup"),
    ("", "Anna is a wug."),  # empty context: conditioned on the end-of-text token
    ("No wug is a krell. Anna is a wug.  ", "So Anna is not a krell."),  # trailing spaces move to the continuation
    (" ".join(["Ivy gives the cup to Will and Will gives it back to Ivy."] * 20), " Ivy"),  # past the context: cut left
    ("A", " b"),
    ("If it rains the road is wet. It rains. So the road is", " wet"),
]


@pytest.fixture(scope="module")
def nano():
    from ltm import basemodel

    model = basemodel.load_model(basemodel.resolve("ltm-nano"))
    model.eval()
    return model, basemodel.load_tokenizer("ltm-nano")


def _vocab(model) -> int:
    return model.get_output_embeddings().out_features


def reference_perplexity(model, tokenizer, text, max_tokens):
    from ltm.corpora import tokenize

    ids = tokenize(text, tokenizer)[:max_tokens]
    window = min(model_max_length(model), 2048)
    nll, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ids), window):
            block = ids[start:start + window]
            if len(block) < 2:
                continue
            logprobs = torch.log_softmax(model(input_ids=torch.tensor([block])).logits.float(), dim=-1)[0, :-1]
            nll -= float(logprobs.gather(1, torch.tensor(block[1:])[:, None]).sum())
            count += len(block) - 1
    return math.exp(nll / count)


class HostMoves:
    """Records the shape and size of every tensor the code under test copies to the host."""

    def __init__(self, monkeypatch):
        self.shapes: list[tuple[int, ...]] = []
        self.bytes = 0
        real_cpu, real_to, real_tolist, real_numpy = torch.Tensor.cpu, torch.Tensor.to, torch.Tensor.tolist, torch.Tensor.numpy
        record = self._record

        def cpu(tensor, *args, **kwargs):
            record(tensor)
            return real_cpu(tensor, *args, **kwargs)

        def to(tensor, *args, **kwargs):
            target = kwargs.get("device", next((a for a in args if isinstance(a, (str, torch.device))), None))
            if target is not None and torch.device(target).type == "cpu":
                record(tensor)
            return real_to(tensor, *args, **kwargs)

        def tolist(tensor):
            record(tensor)
            return real_tolist(tensor)

        def numpy(tensor, *args, **kwargs):
            record(tensor)
            return real_numpy(tensor, *args, **kwargs)

        for name, fn in (("cpu", cpu), ("to", to), ("tolist", tolist), ("numpy", numpy)):
            monkeypatch.setattr(torch.Tensor, name, fn)

    def _record(self, tensor):
        self.shapes.append(tuple(tensor.shape))
        self.bytes += tensor.numel() * tensor.element_size()


def test_token_batches_bound_padded_tokens_and_items():
    from ltm.testbench.loglik import token_batches

    lengths = [5, 40, 12, 40, 3, 100, 7, 7, 60]
    batches = token_batches(lengths, batch_size=3, batch_tokens=90)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))  # every item exactly once
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths, reverse=True)  # longest first, as lm-eval orders them
    for batch in batches:
        assert len(batch) <= 3
        padded = len(batch) * max(lengths[i] for i in batch)
        assert padded <= 90 or len(batch) == 1  # an item over the budget goes alone
    assert [[lengths[i] for i in b] for b in batches] == [[100], [60], [40, 40], [12, 7, 7], [5, 3]]
    # Without a budget it is the old batching: batch_size items, longest first.
    assert [len(b) for b in token_batches(lengths, batch_size=4, batch_tokens=None)] == [4, 4, 1]
    assert token_batches([], batch_size=4, batch_tokens=10) == []


def test_loglik_moves_only_per_token_values_to_the_host(nano, monkeypatch):
    model, tokenizer = nano
    moves = HostMoves(monkeypatch)
    loglikelihood(model, tokenizer, REQUESTS, batch_size=4)
    assert moves.shapes, "the per-token values must come back to the host somehow"
    vocab = _vocab(model)
    assert not [s for s in moves.shapes if vocab in s], f"vocabulary-sized tensors copied to the host: {moves.shapes}"


def test_perplexity_moves_only_per_token_values_to_the_host(nano, monkeypatch):
    from ltm.testbench.perplexity import general_text

    model, tokenizer = nano
    moves = HostMoves(monkeypatch)
    perplexity(model, tokenizer, general_text(), batch_size=4, max_tokens=1000)
    vocab = _vocab(model)
    assert not [s for s in moves.shapes if vocab in s], f"vocabulary-sized tensors copied to the host: {moves.shapes}"
    full = 8 * 127 * vocab * 4  # 8 windows of 128 tokens: the fp32 log-probabilities of every next token
    assert moves.bytes < full / 100, (moves.bytes, full)


@pytest.mark.parametrize("batch_size,batch_tokens", [(1, None), (4, None), (16, None), (16, 200), (16, 1)])
def test_loglik_equals_the_plain_computation(nano, batch_size, batch_tokens):
    model, tokenizer = nano
    expected = reference_loglik(model, tokenizer, REQUESTS)
    got = loglikelihood(model, tokenizer, REQUESTS, batch_size=batch_size, batch_tokens=batch_tokens)
    for result, (logprob, greedy, tokens) in zip(got, expected, strict=True):
        assert result.logprob == pytest.approx(logprob, abs=1e-5)
        assert result.is_greedy == greedy
        assert result.tokens == tokens


@pytest.mark.parametrize("batch_size,batch_tokens", [(1, None), (8, None), (8, 300), (8, 50)])
def test_perplexity_equals_the_plain_computation(nano, batch_size, batch_tokens):
    from ltm.testbench.perplexity import general_text

    model, tokenizer = nano
    text = general_text()
    expected = reference_perplexity(model, tokenizer, text, max_tokens=1000)
    got = perplexity(model, tokenizer, text, batch_size=batch_size, max_tokens=1000, batch_tokens=batch_tokens)
    assert got == pytest.approx(expected, rel=1e-5)


def _forward_sizes(model):
    sizes: list[tuple[int, int]] = []
    handle = model.register_forward_pre_hook(lambda module, args, kwargs: sizes.append(tuple(kwargs["input_ids"].shape)),
                                             with_kwargs=True)
    return sizes, handle


def test_long_items_go_in_smaller_batches(nano):
    from ltm.testbench.perplexity import general_text

    model, tokenizer = nano
    sizes, handle = _forward_sizes(model)
    try:
        loglikelihood(model, tokenizer, REQUESTS, batch_size=16, batch_tokens=200)
        assert sizes[0] == (1, 128)  # the long item alone
        assert all(rows * width <= 200 for rows, width in sizes[1:])
        sizes.clear()
        perplexity(model, tokenizer, general_text(), batch_size=8, max_tokens=1000, batch_tokens=300)
        assert sizes == [(2, 128)] * 4  # 8 windows, 2 per forward under 300 tokens
    finally:
        handle.remove()


def test_eval_scores_under_the_configured_token_budget(nano_config, tmp_path, monkeypatch):
    """`testbench.batch_tokens` reaches every log-likelihood and perplexity call of an evaluation."""
    from helpers import CHOICE_SCENES

    from ltm.testbench import items
    from ltm.testbench import perplexity as perplexity_module
    from ltm.testbench.run import evaluate

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "s.yaml").write_text(CHOICE_SCENES)
    nano_config.runs_dir = str(tmp_path / "runs")
    nano_config.testbench.scenes = str(scenes)
    nano_config.testbench.latency = False
    nano_config.testbench.batch_tokens = 96
    budgets = []
    real_loglik, real_perplexity = items.loglikelihood, perplexity_module.perplexity

    def loglik(*args, **kwargs):
        budgets.append(("loglikelihood", kwargs.get("batch_tokens")))
        return real_loglik(*args, **kwargs)

    def ppl(*args, **kwargs):
        budgets.append(("perplexity", kwargs.get("batch_tokens")))
        return real_perplexity(*args, **kwargs)

    monkeypatch.setattr(items, "loglikelihood", loglik)
    monkeypatch.setattr(perplexity_module, "perplexity", ppl)
    result = evaluate(nano_config, adapters=[], track=False, quiet=True)
    assert result.summaries["base"]["ppl_general"] > 1
    assert {name for name, _ in budgets} == {"loglikelihood", "perplexity"}
    assert all(budget == 96 for _, budget in budgets), budgets
