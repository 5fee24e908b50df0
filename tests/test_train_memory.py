"""Issue 16, point 3: the training model's memory is released before evaluation loads the base.

The trainer, accelerate and peft hold the training model in reference cycles, so it outlived
`train()` until Python's cycle collector happened to run — in a sweep trial, after the evaluation
had loaded the base beside it (Optuna's gc_after_trial runs after the whole trial). The collector
is switched off here, so only an explicit release inside `train()` can free it.
"""

from __future__ import annotations

import gc
import weakref


def test_the_training_model_is_gone_when_train_returns(make_nano_config, tmp_path, monkeypatch):
    from ltm import basemodel, train

    config = make_nano_config()
    config.runs_dir = str(tmp_path / "runs")
    config.training.max_steps = 3
    loaded: list[weakref.ref] = []
    load_model = basemodel.load_model

    def watched(*args, **kwargs):
        model = load_model(*args, **kwargs)
        loaded.append(weakref.ref(model))
        return model

    monkeypatch.setattr(basemodel, "load_model", watched)
    gc.collect()
    gc.disable()
    try:
        result = train.train(config, ["syllogisms"], track=False)[0]
        alive = [ref for ref in loaded if ref() is not None]
    finally:
        gc.enable()
    assert not result.reused and len(loaded) == 1
    assert not alive, "the training model (and with it the trainer and optimizer state) outlived train()"
