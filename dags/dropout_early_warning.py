"""
### Dropout-risk early warning

Daily by default (`DROPOUT_EARLY_WARNING_SCHEDULE=@hourly` for hourly; read when the file is parsed):

1. **score**: builds serving examples for the active learners from the newest landing data with the
   training ingestion in its SERVING mode, scores them with the champion (the newest pushed model),
   flags learners at or above `evaluation.threshold` and the top `evaluation.top_fraction`, explains
   each flagged learner in plain language (integrated gradients on the sequence model), writes the
   risk list to `<warning.out_dir>/risk.sqlite` and `runs/risk-<run id>.csv`, and runs the
   interventions configured per risk band (`warning.high_actions`, `warning.top_actions`: SMTP e-mail
   to the learner or course staff, webhook), recording each one.
2. **outcomes**: for interventions older than `warning.outcome_days`, records whether the learner came
   back (any accepted activity in those days), for joining into later training data.

Both run in the TFX environment (`python -m dropout.warning ...`); see `dropout/warning/`.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from dropout_airflow.tfx import run_tfx

SCHEDULE = os.environ.get("DROPOUT_EARLY_WARNING_SCHEDULE", "@daily")


@task
def score(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Risk list, reasons and interventions for the newest landing data (TFX env)."""
    args = ["dropout.warning", "score", "--config", params["config"], "--run-id", get_current_context()["run_id"]]
    if params.get("as_of"):
        args += ["--as-of", params["as_of"]]
    return run_tfx(args)


@task
def outcomes(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Did the learners acted on come back? (TFX env)"""
    return run_tfx(["dropout.warning", "outcomes", "--config", params["config"]])


@dag(
    dag_id="dropout_early_warning",
    doc_md=__doc__,
    tags=["dropout", "serving", "early-warning"],
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5)},
    params={
        "config": Param("config/default.toml", type="string", description="settings file"),
        "as_of": Param(None, type=["null", "string"], description="last landing day to score (default: newest)"),
    },
)
def dropout_early_warning():
    score() >> outcomes()


dropout_early_warning()
