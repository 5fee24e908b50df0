"""One trial of `ltm sweep`: its settings, its training, its evaluation and its two objective values.

A stage-1 trial trains one corpus with one seed (optionally at the proxy step budget); a stage-2
trial draws a subset of the top corpora, their mixture weights, learning rate, rank and step
factor from the study (ltm/sweep_study.py). Either trains the adapter (ltm/train.py), prunes a
hopeless stage-2 trial on the choice items alone, evaluates it (ltm/testbench/run.py), scores
the run (ltm/score.py) and returns (composite, forgetting). A failure is recorded in the run's
failures.json and the trial's attributes, so one bad trial never ends the night.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import time
from pathlib import Path

from . import atomic, tracking, train
from .errors import LtmError
from .score import score_run
from .sweep_study import study_name, subsets, top_corpora


def results_run(config) -> Path:
    from .testbench.run import results_dir

    return results_dir(config, study_name(config))


# ----------------------------------------------------------------------------- the objective
class Objective:
    def __init__(self, config, parent_run_id: str | None, track: bool):
        self.config, self.parent_run_id, self.track = config, parent_run_id, track

    def __call__(self, trial) -> tuple[float, float]:
        import optuna

        stage = trial.user_attrs.get("stage", 2)
        trial_config = copy.deepcopy(self.config)
        if stage == 1:
            name = trial.user_attrs["corpus"]
            trial_config.training.seed = int(trial.user_attrs["seed"])
            params = {"corpus": name, "seed": trial_config.training.seed}
            if trial.user_attrs.get("proxy"):
                trial_config.training.max_steps = self.config.sweep.proxy_steps
                params["proxy_steps"] = self.config.sweep.proxy_steps
        else:
            try:
                name, params = self._stage2(trial, trial_config)
            except LtmError as exc:  # recorded as a failure, so it is not taken for an interrupted trial
                trial.set_user_attr("failure", str(exc))
                print(f"trial {trial.number} (stage 2) failed: {exc}")
                raise
        trial.set_user_attr("source", name)
        started = time.perf_counter()
        with self._mlflow(trial, stage, params) as (client, run_id):
            try:
                source = train.load_sources(trial_config, [name])[0]
                adapter = train.train_sources(trial_config, [source], track=self.track)[0].path
                trial.set_user_attr("adapter", str(adapter))
                if client is not None:
                    with tracking.guard():
                        client.set_tag(run_id, "ltm.adapter", str(adapter))
                composite, forgetting, summary = self._evaluate(trial_config, adapter, trial)
            except optuna.TrialPruned:
                raise
            except Exception as exc:  # one bad trial must not end the night
                reason = _reason(exc)
                trial.set_user_attr("failure", reason)
                _record_failure(results_run(self.config), f"{name} (trial {trial.number})", reason)
                print(f"trial {trial.number} ({name}) failed: {reason}")
                raise
            if client is not None:
                metrics = {"composite": composite, "forgetting": forgetting,
                           "trial_seconds": time.perf_counter() - started}
                metrics.update({k: v for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
                tracking.log_metrics(client, run_id, metrics)
        print(f"trial {trial.number} ({name}): composite {composite:.3f}, forgetting {forgetting:+.1f} %")
        return composite, forgetting

    def _stage2(self, trial, trial_config) -> tuple[str, dict]:
        top = top_corpora(trial.study, self.config.sweep.top_k)
        if not top:
            raise LtmError("stage 2 needs finished stage-1 trials — none finished; check the failures above")
        # One categorical over the non-empty subsets: an empty subset is never drawn (it used to be
        # replaced silently by the top corpus, which stage 1 had already trained).
        chosen = trial.suggest_categorical("corpora", subsets(top)).split("+")
        # A weight means something only beside another corpus: a lone corpus gets no weight dimension.
        weights = ({corpus: trial.suggest_float(f"weight.{corpus}", 0.5, 2.0, step=0.5) for corpus in chosen}
                   if len(chosen) > 1 else {chosen[0]: 1.0})
        space = self.config.sweep
        if not space.ranks or not space.step_factors or not space.learning_rates or min(
                [*space.learning_rates, *space.step_factors, *space.ranks]) <= 0:
            raise LtmError("sweep.learning_rates, sweep.ranks and sweep.step_factors need positive values — "
                           "e.g. learning_rates: [0.5, 2.0], ranks: [8, 16], step_factors: [1.0]")
        low, high = sorted(space.learning_rates)[0], sorted(space.learning_rates)[-1]
        rate = self.config.training.learning_rate
        trial_config.training.learning_rate = (trial.suggest_float("learning_rate", rate * low, rate * high, log=True)
                                               if high > low else rate * low)
        trial_config.training.rank = (trial.suggest_categorical("rank", list(space.ranks)) if len(space.ranks) > 1
                                      else space.ranks[0])
        trial_config.training.alpha = 2.0 * trial_config.training.rank
        factor = (trial.suggest_categorical("step_factor", list(space.step_factors)) if len(space.step_factors) > 1
                  else space.step_factors[0])
        if trial_config.training.max_steps > 0:
            trial_config.training.max_steps = max(1, round(trial_config.training.max_steps * factor))
        else:
            trial_config.training.epochs = trial_config.training.epochs * factor
        if len(weights) == 1 and next(iter(weights.values())) == 1.0:
            name = next(iter(weights))
        else:
            digest = hashlib.sha256(json.dumps(sorted(weights.items())).encode()).hexdigest()[:8]
            name = f"mix-{'+'.join(sorted(weights))[:40]}-{digest}"
            trial_config.corpora.mixtures = {**trial_config.corpora.mixtures, name: weights}
        return name, {"mixture": json.dumps(weights), "learning_rate": trial_config.training.learning_rate,
                      "rank": trial_config.training.rank, "step_factor": factor}

    def _evaluate(self, trial_config, adapter: Path, trial) -> tuple[float, float, dict]:
        import optuna

        from .testbench.run import evaluate

        run = study_name(self.config)
        loaded = None
        # Stage 2 only (stage 1 measures every corpus, hopeless or not): an intermediate score on
        # the choice items alone, and nothing else, to prune a hopeless trial. The full pass
        # below finds those items in the item cache (same row key) and does not score them again,
        # and uses the same loaded base: one base load for the trial's evaluation.
        if trial.user_attrs.get("stage", 2) == 2:
            from . import basemodel
            from .testbench.rows import LoadedBase

            base = trial_config.base
            loaded = LoadedBase.of_config(basemodel.resolve(base.model, base.revision), base)
            # Pruning reads the base and adapter rows only: no format row, so no second model load for it.
            pruning_config = copy.deepcopy(trial_config)
            pruning_config.testbench.formats = []
            intermediate = evaluate(pruning_config, adapters=[adapter], run=f"{run}-intermediate", track=False,
                                    quiet=True, kinds={"choice"}, scenes_only=True, loaded=loaded)
            accuracy = intermediate.summaries[adapter.name].get("accuracy")
            base_accuracy = intermediate.summaries["base"].get("accuracy")
            trial.set_user_attr("intermediate_accuracy", accuracy)
            if accuracy is not None and base_accuracy is not None \
                    and accuracy < base_accuracy - self.config.sweep.prune_margin:
                trial.set_user_attr("pruned_reason", f"choice accuracy {accuracy:.3f} < base {base_accuracy:.3f} - margin")
                raise optuna.TrialPruned()
        result = evaluate(trial_config, adapters=[adapter], run=run, track=self.track, quiet=True, loaded=loaded)
        del loaded
        gc.collect()
        scored, _ = score_run(self.config, result.run_dir, quiet=True, track=self.track)
        mine = next(s for s in scored if s.row.name == adapter.name)
        if mine.composite.value is None:
            raise LtmError(f"{adapter.name}: no reasoning measure could be scored — check the scenes")
        forgetting = mine.forgetting if mine.forgetting is not None else 0.0
        return mine.composite.value, forgetting, result.summaries[adapter.name]

    def _mlflow(self, trial, stage: int, params: dict):
        import contextlib

        if not self.track:
            return contextlib.nullcontext((None, None))
        tags = {"ltm.kind": "trial", "ltm.stage": stage, "ltm.trial": trial.number, "ltm.study": study_name(self.config)}
        params = {f"trial.{k}": str(v) for k, v in params.items()}
        return tracking.run(self.config, f"trial-{trial.number}", tags, params, parent_run_id=self.parent_run_id)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = type(exc).__name__
    if "out of memory" in text.lower() or kind == "OutOfMemoryError":
        return f"out of memory ({text[:160]})"
    return f"{kind}: {text[:200]}" if text else kind


def _record_failure(run_dir: Path, name: str, reason: str) -> None:
    path = run_dir / "failures.json"
    failures = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    failures[name] = reason
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_json(path, failures)
