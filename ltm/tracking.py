"""The one place that talks to MLflow.

Default store: a SQLite file in the run folder with an explicit artifact location beside it
(MLflow's default would be ./mlruns of whatever directory the user happens to be in).
A shared tracking server (`tracking.uri: http://host:5000`) works the same way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from .errors import LtmError

SECRET_HINTS = ("key", "token", "secret", "password")


def tracking_uri(config) -> str:
    if config.tracking.uri:
        return config.tracking.uri
    return f"sqlite:///{(config.runs_path / 'mlflow.db').resolve()}"


def artifact_root(config) -> str:
    return (config.runs_path / "mlartifacts").resolve().as_uri()


def experiment_name(config) -> str:
    return config.tracking.experiment or config.name


def _quiet() -> None:
    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)


def client(config):
    """An MlflowClient on the config's store, with the experiment created if needed."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # A tracking server that went away should cost seconds, not minutes of retries per call.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    import mlflow
    from mlflow.tracking import MlflowClient

    _quiet()  # after the import: mlflow sets its own logger levels when imported

    uri = tracking_uri(config)
    if uri.startswith("sqlite:"):
        config.runs_path.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow_client = MlflowClient(uri)
    name = experiment_name(config)
    try:
        experiment = mlflow_client.get_experiment_by_name(name)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            try:
                experiment_id = mlflow_client.create_experiment(
                    name, artifact_location=None if uri.startswith("http") else artifact_root(config),
                    # Open the UI on the runs table (model training), not the GenAI traces overview.
                    tags={KIND_TAG: MODEL_TRAINING},
                )
            except Exception:
                # Another worker created it a moment ago (RESOURCE_ALREADY_EXISTS): use theirs.
                experiment = mlflow_client.get_experiment_by_name(name)
                if experiment is None:
                    raise
                experiment_id = experiment.experiment_id
    except Exception as exc:  # server down, bad URL, locked DB…
        raise LtmError(f"MLflow tracking store {uri} is not reachable ({type(exc).__name__}) — check tracking.uri or start the server") from None
    return mlflow_client, experiment_id


# MLflow 3 opens an experiment on its GenAI "Overview" of traces (empty for ltm). Until 3.x the
# experiment tag decided the mode; MLflow 3.18's UI decides by the `workflowType` URL parameter
# (or the browser's stored choice) and shows the runs table at #/experiments/<id>/runs.
KIND_TAG, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"
# A saved view of the runs table (the UI's "Views" menu; the URL's viewStateShareKey opens it):
# ltm score's numbers as columns, best composite first.
VIEW_KEY, VIEW_NAME = "ltm-ranking", "ltm ranking"
SCORE_COLUMNS = ("composite", "delta_vs_base", "forgetting")


def runs_page(config) -> str:
    """The URL fragment that opens the experiment on its runs table, in model-training mode, with
    composite, delta_vs_base and forgetting as columns; tags the experiment for it if needed."""
    import json
    import time

    mlflow_client, experiment_id = client(config)
    tags = mlflow_client.get_experiment(experiment_id).tags
    if KIND_TAG not in tags:  # experiments created before ltm set it
        mlflow_client.set_experiment_tag(experiment_id, KIND_TAG, MODEL_TRAINING)
    view_tag = f"mlflow.sharedViewState.{VIEW_KEY}"
    if view_tag not in tags:  # once: a user who overrides the view in the UI keeps theirs
        state = {"selectedColumns": [f"metrics.`{name}`" for name in SCORE_COLUMNS],
                 "orderByKey": "metrics.`composite`", "orderByAsc": False}
        now = int(time.time() * 1000)
        mlflow_client.set_experiment_tag(experiment_id, view_tag, json.dumps(
            {"name": VIEW_NAME, "createdAt": now, "updatedAt": now, "state": json.dumps(state)}))
    return f"#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW_KEY}&workflowType=machine_learning"


def training_run(config, adapter: str, manifest_run_id: str | None = None) -> str | None:
    """The run in this store that trained (or merged) `adapter`: the manifest's run when it is in
    this experiment, else the newest adapter/merge run of that name; None when there is none."""
    if _down["value"]:
        return None
    mlflow_client, experiment_id = client(config)
    if manifest_run_id:
        try:
            info = mlflow_client.get_run(manifest_run_id).info
            if info.experiment_id == experiment_id and info.lifecycle_stage == "active":
                return manifest_run_id
        except Exception:  # noqa: BLE001 - trained against another store: look it up by name
            pass
    if "'" in adapter:
        return None
    with guard():
        found = mlflow_client.search_runs(
            [experiment_id], f"tags.`ltm.adapter` = '{adapter}' and tags.`ltm.kind` != 'eval'",
            order_by=["attributes.start_time DESC"], max_results=1)
        return found[0].info.run_id if found else None
    return None


def score_metrics(item) -> dict[str, float | None]:
    """One row of `ltm score` (a score.Scored) as MLflow metrics, named as in ltm_results_table.csv
    (forgetting as the sweep's trials log it: percent rise of general perplexity vs the base).
    The base is 0 against itself, so its row reads as the reference line rather than as a gap."""
    metrics = {"composite": item.composite.value, "composite_lo": item.composite.lo, "composite_hi": item.composite.hi,
               "delta_vs_base": item.delta.value, "delta_lo": item.delta.lo, "delta_hi": item.delta.hi,
               "forgetting": item.forgetting, "rank": item.rank or None, "p_rank1": item.p_first}
    if item.row.summary.get("kind") == "base":
        metrics["delta_vs_base"] = 0.0 if metrics["delta_vs_base"] is None else metrics["delta_vs_base"]
        metrics["forgetting"] = 0.0 if metrics["forgetting"] is None else metrics["forgetting"]
    return metrics


def log_scores(config, results_run: str, scored: list) -> int:
    """`ltm score`'s numbers (composite, delta_vs_base, forgetting…) as metrics of the eval runs of
    `results_run` (the newest per row), so the runs table shows and sorts by them. Nothing when the
    store does not exist (evaluated with --no-mlflow): scoring never creates a store. Returns how
    many runs got their scores."""
    uri = tracking_uri(config)
    if _down["value"] or "'" in results_run:
        return 0
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        return 0
    logged = 0
    with guard():
        mlflow_client, experiment_id = client(config)
        newest: dict[str, str] = {}
        for found in mlflow_client.search_runs(
                [experiment_id], f"tags.`ltm.kind` = 'eval' and tags.`ltm.run` = '{results_run}'",
                order_by=["attributes.start_time DESC"], max_results=5000):
            newest.setdefault(found.data.tags.get("ltm.row", ""), found.info.run_id)
        for item in scored:
            if item.row.name in newest:  # a seed-pooled row has no eval run of its own
                log_metrics(mlflow_client, newest[item.row.name], score_metrics(item))
                logged += 1
    return logged


def flatten(data: dict, prefix: str = "") -> dict[str, str]:
    """Nested config → flat MLflow params; values that look like secrets are never logged."""
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif any(h in key.lower() for h in SECRET_HINTS) and key.lower() != "api_key_env" and value:
            flat[name] = "***"
        else:
            flat[name] = str(value)[:500]
    return flat


@contextlib.contextmanager
def run(config, name: str, tags: dict | None = None, params: dict | None = None,
        parent_run_id: str | None = None) -> Iterator[tuple[object, str]]:
    """Start an MLflow run; yield (client, run_id); mark FINISHED or FAILED on exit."""
    mlflow_client, experiment_id = client(config)
    all_tags = {"mlflow.runName": name, **(tags or {})}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    created = mlflow_client.create_run(experiment_id, run_name=name, tags={k: str(v) for k, v in all_tags.items()})
    run_id = created.info.run_id
    if params:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for start in range(0, len(items), 100):
            mlflow_client.log_batch(run_id, params=items[start:start + 100])
    try:
        yield mlflow_client, run_id
    except BaseException as exc:
        if not _down["value"]:
            with guard():
                mlflow_client.set_tag(run_id, "ltm.failure", f"{type(exc).__name__}: {exc}"[:500])
                mlflow_client.set_terminated(run_id, status="KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    if not _down["value"]:  # a server that went away would only cost another timeout here
        with guard():
            mlflow_client.set_terminated(run_id, status="FINISHED")


_down = {"value": False}  # the server stopped answering: skip further calls instead of retrying each


@contextlib.contextmanager
def guard():
    """MLflow is a record of the work, not the work: if its server goes away mid-run, say so
    once and carry on, so a finished adapter or evaluation is never lost to a logging error."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - any client/transport error
        was_down, _down["value"] = _down["value"], True
        if was_down:
            return  # said once already: every later call fails the same way (one warning, not one per call)
        text = str(exc)
        server = re.search(r"https?://[^/\s'\"]+", text)
        if server and any(s in text for s in ("Max retries", "Connection", "connect", "timed out")):
            reason = f"tracking server {server.group(0)} stopped answering"  # not requests' 300-character retry text
        else:
            reason = f"{type(exc).__name__}: " + (text.strip().splitlines() or [""])[0][:160]
        print(f"warning: MLflow logging failed ({reason}) — results are kept on disk and this run goes on "
              "without MLflow; restart the tracking server before the next run", file=sys.stderr, flush=True)


def log_metrics(mlflow_client, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
    if _down["value"]:
        return
    with guard():
        for start in range(0, len(items), 500):
            mlflow_client.log_batch(run_id, metrics=items[start:start + 500])


def log_artifacts(mlflow_client, run_id: str, folder: Path, artifact_path: str | None = None) -> None:
    if _down["value"]:
        return
    with guard():
        mlflow_client.log_artifacts(run_id, str(folder), artifact_path)


def log_artifact(mlflow_client, run_id: str, path: Path, artifact_path: str | None = None) -> None:
    if _down["value"]:
        return
    with guard():
        mlflow_client.log_artifact(run_id, str(path), artifact_path)
