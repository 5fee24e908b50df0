"""`ltm score` logs its numbers to MLflow only where the evaluation was tracked."""


def test_scoring_an_untracked_run_creates_no_mlflow_store(tmp_path):
    from ltm import tracking
    from ltm.config import ExperimentConfig
    from ltm.score import Interval, RowData, Scored

    config = ExperimentConfig(name="untracked", runs_dir=str(tmp_path / "runs"))
    base = Scored(RowData("base", {"kind": "base"}, {}), composite=Interval(0.5, 0.4, 0.6), rank=1, p_first=1.0)
    assert tracking.log_scores(config, "run1", [base]) == 0
    assert not (tmp_path / "runs" / "mlflow.db").exists()
    # The base is the reference line: 0 against itself, not a blank Δ and forgetting.
    metrics = tracking.score_metrics(base)
    assert (metrics["composite"], metrics["delta_vs_base"], metrics["forgetting"]) == (0.5, 0.0, 0.0)
