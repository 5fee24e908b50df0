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

This module is the loop that runs the trials until the study is done, then the merges, the
ranking and the plots. The study and its search space are ltm/sweep_study.py, one trial
(train → prune → evaluate → score) is ltm/sweep_trial.py; their names stay importable from here.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import atomic, tracking
from .score import score_run

# The pieces of `ltm sweep`, importable from here as before (ltm.sweep.open_study, ltm.sweep.Objective, ...).
from .sweep_study import (  # noqa: F401
    _extra_seeds,
    _fail_stale,
    _finished,
    _grid,
    _parent_run,
    _queue_full_budget,
    _requeue_interrupted,
    _storage,
    open_study,
    pareto_front,
    proxy_check,
    storage_url,
    study_name,
    subsets,
    top_corpora,
)
from .sweep_trial import Objective, results_run  # noqa: F401


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
    scored, csv_path = score_run(config, run_dir, quiet=True, track=track)
    check = proxy_check(study)
    if check:
        atomic.write_json(run_dir / "proxy_check.json", check)
        rho = "undefined (ties)" if check["spearman"] is None else f"{check['spearman']:+.2f}"
        print(f"proxy check: Spearman {rho} between the {config.sweep.proxy_steps}-step ranking and the full-budget "
              f"ranking of {len(check['corpora'])} corpora" + (" (few corpora: says little)" if len(check["corpora"]) < 4 else ""))
    _save_plots(config, study, run_dir, parent)
    return csv_path


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


