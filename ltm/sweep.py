"""`ltm sweep` (and `make overnight`): an Optuna study over corpora, mixtures and LoRA settings.

Stage 1 trains and tests every corpus alone (enqueued trials), plus the first corpus again
with the other ``sweep.seeds`` — the noise floor. Stage 2 lets TPE (or a grid) choose
subsets of the ``top_k`` best corpora, their mixture weights, learning rate, rank and
steps, with two objectives: composite reasoning score up, forgetting down (a Pareto front).

Everything that finishes is on disk under a content hash — adapters, item results — so a
killed sweep resumes where it stopped: Optuna's RDB storage holds the trials, its
heartbeat marks a killed worker's trial as failed and retries it, and the retry finds the
adapter and evaluations already done. Several workers on several machines share one study
through one storage URL (PostgreSQL) and one MLflow server; Optuna hands out the trials.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import hashlib
import json
import math
import time
from pathlib import Path

from . import atomic, corpora, tracking, train
from .errors import LtmError
from .score import score_run


def storage_url(config) -> str:
    return config.sweep.storage or f"sqlite:///{config.runs_path / 'optuna.db'}"


def study_name(config) -> str:
    return config.sweep.study or config.name


def _storage(config):
    import optuna
    from optuna.storages import RDBStorage

    try:  # optuna >= 4.9
        from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
    except ImportError:
        from optuna.storages import RetryFailedTrialCallback as Retry

    url = storage_url(config)
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"heartbeat_interval": config.sweep.heartbeat_seconds, "grace_period": config.sweep.grace_seconds}
    import warnings

    import sqlalchemy.exc

    for attempt in range(6):
        try:
            with warnings.catch_warnings():  # heartbeat and retry are "experimental" since optuna 2.8
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                retry = Retry(max_retry=3)
                try:
                    return RDBStorage(url, **kwargs, heartbeat_stale_trial_callback=retry)
                except TypeError:  # optuna < 5 names it failed_trial_callback
                    return RDBStorage(url, **kwargs, failed_trial_callback=retry)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as exc:
            # Several workers starting on an empty database race to create Optuna's tables;
            # the loser sees a duplicate ("already exists" on SQLite) and opens the winner's.
            if isinstance(exc, sqlalchemy.exc.OperationalError) and "already exists" not in str(exc):
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise LtmError(f"sweep.storage {url.split('@')[-1]!r}: cannot open ({first}) — check the URL and "
                               "that the database server is running") from None
            time.sleep(0.5 + attempt)
        except (ImportError, optuna.exceptions.StorageInternalError, ValueError, sqlalchemy.exc.SQLAlchemyError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise LtmError(f"sweep.storage {url.split('@')[-1]!r}: cannot open ({first}) — check the URL, the server, "
                           "and that its driver is installed (PostgreSQL: pip install 'ltm[postgres]')") from None
    raise LtmError(f"sweep.storage {url.split('@')[-1]!r}: tables could not be created (other workers kept racing) "
                   "— start the workers again")


def _sampler(config):
    if config.sweep.sampler == "grid":
        return None  # stage 2 builds the grid once the top corpora are known
    return _trial_seeded_tpe(config.training.seed)


def _trial_seeded_tpe(seed: int):
    import optuna

    class TrialSeededTPE(optuna.samplers.BaseSampler):
        """TPE re-seeded from (seed, trial number) before every trial.

        Each worker has its own sampler: with one fixed seed, two workers asking at the same time
        draw the same parameters — the same stage-2 trial twice. Trial numbers are unique across
        workers (the database hands them out), so this keeps workers apart and keeps a sweep
        reproducible whichever worker runs which trial.
        """

        def __init__(self, seed: int):
            self._seed = seed
            self._inner = optuna.samplers.TPESampler(seed=seed)

        def before_trial(self, study, trial):
            self._inner = optuna.samplers.TPESampler(seed=self._seed + trial.number)
            self._inner.before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self._inner.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._inner.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._inner.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values):
            self._inner.after_trial(study, trial, state, values)

        def reseed_rng(self):
            self._inner.reseed_rng()

    return TrialSeededTPE(seed)


def open_study(config, track: bool = False):
    """Create the study (and enqueue stage 1) exactly once, even with several workers starting together."""
    import optuna

    storage = _storage(config)
    name = study_name(config)
    directions = ["maximize", "minimize"]
    names = _corpus_names(config)  # before creating: a study is never left half set up by a bad shelf
    try:
        study = optuna.create_study(study_name=name, storage=storage, directions=directions, sampler=_sampler(config))
    except optuna.exceptions.DuplicatedStudyError:
        study = None
    if study is None:
        study = optuna.load_study(study_name=name, storage=storage, sampler=_sampler(config))
        # The creator enqueues stage 1 and only then sets "stage1_trials". A worker that starts
        # meanwhile waits for it: otherwise it counts no stage-1 trials, starts stage 2 on nothing
        # (a failed trial) and makes a second MLflow sweep run.
        deadline = time.monotonic() + 120
        while "stage1_trials" not in study.user_attrs:
            if time.monotonic() > deadline:
                raise LtmError(f"study {name!r} exists but its stage 1 was never queued (the worker creating it "
                               "stopped) — delete the study or set another sweep.study")
            time.sleep(0.5)
        return study, False
    # Only the worker that created the study gets here: the database's unique study name is the lock.
    proxy = {"proxy": True} if config.sweep.proxy_steps else {}
    for corpus in names:
        study.enqueue_trial({}, user_attrs={"stage": 1, "corpus": corpus, "seed": config.sweep.seeds[0], **proxy})
    for corpus, seed in _extra_seeds(config, names):
        study.enqueue_trial({}, user_attrs={"stage": 1, "corpus": corpus, "seed": seed, "noise_floor": True, **proxy})
    study.set_user_attr("full_trials", min(config.sweep.top_k, len(names)) if proxy else 0)
    study.set_user_attr("config", json.loads(json.dumps(dataclasses.asdict(config), default=str)))
    try:
        if track:  # before "stage1_trials": the other workers wait for that, then find this run
            _parent_run(config, study)
    finally:
        study.set_user_attr("stage1_trials", len(names) + len(_extra_seeds(config, names)))  # last: "set up"
    return study, True


def _extra_seeds(config, names: list[str]) -> list[tuple[str, int]]:
    """The noise-floor trials: the other seeds for the first corpus, or for every corpus."""
    corpora_seeded = names if config.sweep.seed_every_corpus else names[:1]
    return [(corpus, seed) for corpus in corpora_seeded for seed in config.sweep.seeds[1:]]


def _corpus_names(config) -> list[str]:
    paths = corpora.select(config.corpora_root, config.corpora.include)
    if not paths:
        raise LtmError(f"{config.corpora_root}: no corpora to sweep — add files or folders there")
    return [p.stem if p.is_file() else p.name for p in paths]


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
            # Pruning reads the base and adapter rows only: no format variant, so no second model load for it.
            pruning_config = copy.deepcopy(trial_config)
            pruning_config.testbench.variants = []
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
        scored, _ = score_run(self.config, result.run_dir, quiet=True)
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


def top_corpora(study, k: int, proxy: bool | None = None, key: str = "corpus") -> list[str]:
    """Best stage-1 corpora by composite (the first seed only, so the noise trial adds nothing).

    With a proxy stage, the full-budget trials rank the corpora once they exist (``proxy=None``);
    ``proxy=True`` / ``False`` ask for one ranking or the other.
    """
    import optuna

    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.user_attrs.get("stage") == 1 and not t.user_attrs.get("noise_floor")]
    full = [t for t in done if not t.user_attrs.get("proxy")]
    chosen = ([t for t in done if t.user_attrs.get("proxy")] if proxy else full if proxy is False or full else done)
    ranked = sorted(chosen, key=lambda t: -t.values[0])
    return [t.user_attrs[key] for t in ranked[:k] if key in t.user_attrs]


def subsets(top: list[str]) -> list[str]:
    """Every non-empty subset of the top corpora, as 'a+b', smallest first, in ranking order."""
    from itertools import combinations

    return ["+".join(combo) for size in range(1, len(top) + 1) for combo in combinations(top, size)]


def _queue_full_budget(config, study) -> bool:
    """After a proxy stage 1: the top_k corpora again at the full budget. True while stage 1 runs elsewhere.

    Two workers finishing stage 1 together may both queue them; the file lock per adapter and the
    result cache make the second copy cost nothing but a lookup.
    """

    planned = int(study.user_attrs.get("full_trials", 0))
    if not planned or study.user_attrs.get("full_queued"):
        return False
    stage1 = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("proxy")]
    if any(not _finished(t) for t in stage1):
        return True
    study.set_user_attr("full_queued", True)
    for corpus in top_corpora(study, planned, proxy=True):
        study.enqueue_trial({}, user_attrs={"stage": 1, "corpus": corpus, "seed": config.sweep.seeds[0], "full": True})
    return False


def proxy_check(study) -> dict | None:
    """Spearman correlation between the proxy ranking and the full-budget ranking of the same corpora."""
    import optuna
    from scipy.stats import spearmanr

    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.user_attrs.get("stage") == 1 and not t.user_attrs.get("noise_floor")]
    proxy = {t.user_attrs["corpus"]: t.values[0] for t in done if t.user_attrs.get("proxy")}
    full = {t.user_attrs["corpus"]: t.values[0] for t in done if t.user_attrs.get("full")}
    both = sorted(set(proxy) & set(full))
    if len(both) < 2:
        return None
    rho = spearmanr([proxy[c] for c in both], [full[c] for c in both]).statistic
    return {"corpora": both, "proxy": [proxy[c] for c in both], "full": [full[c] for c in both],
            "spearman": None if rho != rho else round(float(rho), 4)}


# ----------------------------------------------------------------------------- the loop
def run_sweep(config, track: bool = True) -> Path:
    import optuna

    from .progress import quiet_libraries

    quiet_libraries()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are reported by ltm, in one line
    study, created = open_study(config, track)
    stage1 = int(study.user_attrs.get("stage1_trials", 0))
    full = int(study.user_attrs.get("full_trials", 0))
    total = stage1 + full + config.sweep.trials
    parent = _parent_run(config, study) if track else None
    print(f"study {study.study_name!r} in {storage_url(config).split('@')[-1]}: "
          f"{stage1} stage-1 trials" + (f" at {config.sweep.proxy_steps} steps + {full} at the full budget" if full else "")
          + f" + {config.sweep.trials} stage-2 trials" + ("" if created else " (resuming)"))
    objective = Objective(config, parent, track)
    _requeue_interrupted(study)
    while True:
        trials = study.get_trials(deepcopy=False)
        finished = [t for t in trials if _finished(t)]
        waiting = [t for t in trials if t.state == optuna.trial.TrialState.WAITING]
        running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
        if not waiting and _queue_full_budget(config, study):
            time.sleep(min(5.0, config.sweep.heartbeat_seconds))  # proxy trials still run on other workers
            _fail_stale(study)
            continue
        waiting = waiting or [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.WAITING]
        if not waiting and len(finished) + len(running) >= total:
            if not running:
                break
            time.sleep(min(5.0, config.sweep.heartbeat_seconds))  # another worker (or a stale trial) is busy
            _fail_stale(study)
            continue
        if config.sweep.sampler == "grid" and not waiting and study.sampler.__class__.__name__ != "GridSampler":
            study.sampler = _grid(config, study)
        study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=True)
    run_dir = results_run(config)
    if config.sweep.merges:  # merges of the best single-corpus adapters, ranked beside them
        from .merge import sweep_merges

        sweep_merges(config, [Path(p) for p in top_corpora(study, config.sweep.top_k, key="adapter")],
                     study_name(config), track)
    scored, csv_path = score_run(config, run_dir, quiet=True)
    check = proxy_check(study)
    if check:
        atomic.write_json(run_dir / "proxy_check.json", check)
        rho = "undefined (ties)" if check["spearman"] is None else f"{check['spearman']:+.2f}"
        print(f"proxy check: Spearman {rho} between the {config.sweep.proxy_steps}-step ranking and the full-budget "
              f"ranking of {len(check['corpora'])} corpora" + (" (few corpora: says little)" if len(check["corpora"]) < 4 else ""))
    _save_plots(config, study, run_dir, parent)
    return csv_path


def _finished(trial) -> bool:
    import optuna

    state = trial.state
    return state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) or (
        state == optuna.trial.TrialState.FAIL and "failure" in trial.user_attrs)


def _requeue_interrupted(study) -> None:
    """Give a trial stopped by Ctrl-C (FAIL, no recorded failure) a fresh WAITING copy.

    A killed worker's trial is retried by Optuna's heartbeat callback; an interrupted one is
    marked FAIL by Optuna itself and would otherwise never run again (a stage-1 corpus lost).
    """
    import optuna

    trials = study.get_trials(deepcopy=False)
    retried = {t.system_attrs.get("failed_trial") for t in trials} | set(study.user_attrs.get("requeued", []))
    todo = [t for t in trials if t.state == optuna.trial.TrialState.FAIL and "failure" not in t.user_attrs
            and t.number not in retried]
    if not todo:
        return
    study.set_user_attr("requeued", sorted(set(study.user_attrs.get("requeued", [])) | {t.number for t in todo}))
    for trial in todo:
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING, params=trial.params, distributions=trial.distributions,
            user_attrs=trial.user_attrs, system_attrs={"failed_trial": trial.number}))
        print(f"trial {trial.number} was interrupted: queued again")


def _fail_stale(study) -> None:
    from optuna.storages import fail_stale_trials

    fail_stale_trials(study)


def _grid(config, study):
    import optuna

    top = top_corpora(study, config.sweep.top_k)
    space = {"corpora": subsets(top)}
    space.update({f"weight.{c}": [1.0] for c in top})
    low, high = sorted(config.sweep.learning_rates)[0], sorted(config.sweep.learning_rates)[-1]
    rate = config.training.learning_rate * (1.0 if low <= 1.0 <= high else low)
    space.update({"learning_rate": [rate],
                  "rank": [config.training.rank if config.training.rank in config.sweep.ranks else config.sweep.ranks[0]],
                  "step_factor": [1.0 if 1.0 in config.sweep.step_factors else config.sweep.step_factors[0]]})
    return optuna.samplers.GridSampler(space, seed=config.training.seed)


def _parent_run(config, study) -> str | None:
    run_id = study.user_attrs.get("mlflow_parent_run_id")
    if run_id:
        return run_id
    client, experiment_id = tracking.client(config)
    created = client.create_run(experiment_id, run_name=f"sweep:{study.study_name}",
                                tags={"ltm.kind": "sweep", "ltm.study": study.study_name,
                                      "mlflow.runName": f"sweep:{study.study_name}"})
    study.set_user_attr("mlflow_parent_run_id", created.info.run_id)
    for key, value in tracking.flatten({"sweep": dataclasses.asdict(config.sweep)}).items():
        client.log_param(created.info.run_id, key, value)
    return created.info.run_id


def _save_plots(config, study, run_dir: Path, parent: str | None) -> None:
    """History, parameter importances and the Pareto front, as PNGs beside the table."""
    import warnings

    import optuna

    plots = run_dir / "optuna"
    plots.mkdir(parents=True, exist_ok=True)
    makers = {"history": lambda: optuna.visualization.matplotlib.plot_optimization_history(
                  study, target=lambda t: t.values[0], target_name="composite"),
              "pareto_front": lambda: optuna.visualization.matplotlib.plot_pareto_front(
                  study, target_names=["composite", "forgetting %"]),
              "param_importances": lambda: optuna.visualization.matplotlib.plot_param_importances(
                  study, target=lambda t: t.values[0], target_name="composite")}
    written = []
    for name, make in makers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                axes = make()
            except (ValueError, RuntimeError, ZeroDivisionError, IndexError):
                continue  # e.g. importances need two finished stage-2 trials
        figure = axes.figure if hasattr(axes, "figure") else axes[0].figure
        path = plots / f"{name}.png"
        import io

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        atomic.write_bytes(path, buffer.getvalue())
        written.append(path)
        import matplotlib.pyplot as plt

        plt.close(figure)
    if parent and written:
        client, _ = tracking.client(config)
        for path in written:
            tracking.log_artifact(client, parent, path, "optuna")
        tracking.log_artifact(client, parent, run_dir / "ltm_results_table.csv")
        with tracking.guard():
            client.set_terminated(parent, status="FINISHED")


def pareto_front(study) -> list[dict]:
    return [{"trial": t.number, "source": t.user_attrs.get("source"), "composite": t.values[0],
             "forgetting": t.values[1]} for t in study.best_trials if not any(math.isnan(v) for v in t.values)]
