"""The drift monitor's steps: check the newest span against the champion, emit the drift asset or say why not.

The check runs ``python -m dropout.monitoring drift-check`` in the TFX environment (``run_tfx``).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import get_current_context, task

from dropout_airflow.assets import DRIFT
from dropout_airflow.tfx import POOL, run_tfx

log = logging.getLogger(__name__)


@task(pool=POOL)
def drift_check(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Data and concept drift of the newest complete landing span against the champion (TFX env)."""
    assert params is not None  # Airflow passes the DAG params
    args = [
        "dropout.monitoring",
        "drift-check",
        "--config",
        params["config"],
        "--max-auc-drop",
        str(params["max_auc_drop"]),
        "--max-f1-drop",
        str(params["max_f1_drop"]),
    ]
    if params.get("span") is not None:
        args += ["--span", str(params["span"])]
    return run_tfx(args)


@task.branch
def drift_found(result: dict[str, Any]) -> str:
    """Only drift beyond the thresholds triggers training; otherwise record why not."""
    return "emit_drift" if result["drift"] else "no_retrain_needed"


@task(outlets=[DRIFT])
def emit_drift(result: dict[str, Any]) -> dict[str, Any]:
    """The asset event the training DAG is scheduled on; ``extra["span"]`` names the span to train on."""
    extra = {
        "span": result["span"],
        "baseline_span": result["baseline_span"],
        "features": result["features"],
        "data_drift": result["data_drift"],
        "concept_drift": result["concept_drift"],
        "reason": result["reason"],
    }
    get_current_context()["outlet_events"][DRIFT].extra = extra
    log.info("%s", result["reason"])
    return extra


@task
def no_retrain_needed(result: dict[str, Any]) -> dict[str, Any]:
    """Record (task log and XCom; the full check is in the drift report) why no retrain was needed."""
    log.info("%s (report: %s)", result["reason"], result.get("report", "none"))
    return {
        "span": result["span"],
        "baseline_span": result["baseline_span"],
        "reason": result["reason"],
        "report": result.get("report"),
    }
