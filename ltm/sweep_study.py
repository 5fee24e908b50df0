"""The Optuna study of `ltm sweep`: its storage, samplers, stage-1 queue and stage-2 search space.

Opens (or joins) one study per experiment in an RDB storage (SQLite by default, PostgreSQL for
several machines) with a heartbeat, so a killed worker's trial is retried; the creating worker
enqueues stage 1 — every corpus alone, plus the noise-floor seeds — exactly once. Also what the
study's trials say: the top stage-1 corpora, the subsets stage 2 draws from, the grid, the
proxy-vs-full check, the Pareto front, and the MLflow parent run the trials hang under. What
one trial does is ltm/sweep_trial.py; the loop that runs them is ltm/sweep.py.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

from . import corpora, tracking
from .errors import LtmError


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


def pareto_front(study) -> list[dict]:
    return [{"trial": t.number, "source": t.user_attrs.get("source"), "composite": t.values[0],
             "forgetting": t.values[1]} for t in study.best_trials if not any(math.isnan(v) for v in t.values)]
