"""MLflow tasks of the training DAG: record the run (challenger) and promote the champion.

Both run ``python -m dropout.registry`` in the TFX environment (``run_tfx``), which reads ML Metadata and
the review records and writes to the MLflow tracking server of ``[tracking]`` in the settings. When
the server is unreachable the task fails with a clear message after bounded retries, and Airflow's
task retries try again; a run is never half-recorded (see ``infra/mlflow/README.md``).
"""

from __future__ import annotations

import json
from typing import Any

from airflow.sdk import get_current_context, task

from dropout_airflow.tfx import POOL, run_tfx


def _drift_figures() -> dict[str, Any]:
    """The drift monitor's figures when an asset event triggered this run (empty otherwise)."""
    figures: dict[str, Any] = {}
    for events in (get_current_context().get("triggering_asset_events") or {}).values():
        for event in events:
            figures.update(event.extra or {})
    return figures


def record_run(ctx: dict[str, Any]) -> dict[str, Any]:
    """Record this DAG run as one MLflow run (TFX env): a candidate, or a batch the steward rejected."""
    dag_id = get_current_context()["dag"].dag_id
    args = [
        "dropout.registry",
        "--config",
        ctx["config"],
        "record",
        "--run-id",
        ctx["run_id"],
        "--span",
        str(ctx["span"]),
        "--reason",
        ctx["reason"],
        "--dag-id",
        dag_id,
        "--airflow-run-id",
        ctx["run_id"],
    ]
    figures = _drift_figures()
    if figures:
        args += ["--drift-json", json.dumps(figures, default=str)]
    return run_tfx(args)


@task(pool=POOL)
def track_candidate(ctx: dict[str, Any]) -> dict[str, Any]:
    """One MLflow run for this DAG run; a blessed candidate becomes a registered version, alias challenger."""
    return record_run(ctx)


@task(pool=POOL, trigger_rule="none_failed")
def track_promotion(ctx: dict[str, Any]) -> dict[str, Any]:
    """Record the manager's decision and the push; alias champion only when approved and pushed.

    Runs also when Pusher was skipped (a rejected candidate), so the rejection is recorded too.
    """
    return run_tfx(["dropout.registry", "--config", ctx["config"], "promote", "--run-id", ctx["run_id"]])


@task(trigger_rule="none_failed")
def track_monitor_decision(result: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record a drift-monitor check in the model's MLflow experiment: retrain or not, and why."""
    assert params is not None  # Airflow passes the DAG params
    context = get_current_context()
    return run_tfx(
        [
            "dropout.registry",
            "--config",
            params["config"],
            "monitor",
            "--result-json",
            json.dumps(result, default=str),
            "--dag-id",
            context["dag"].dag_id,
            "--airflow-run-id",
            context["run_id"],
        ]
    )
