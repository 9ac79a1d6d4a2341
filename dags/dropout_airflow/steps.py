"""The non-TFX steps of the DAGs: run context, data steward review, manager approval, drift check.

Each step that reads ML Metadata or writes records under the pipeline root delegates to
``tfx_pipeline.review`` in the TFX environment (``run_tfx``); the functions here only pick what to
pass and how Airflow branches on the answer. HITL answers arrive as the HITL tasks' XCom
(``chosen_options``, ``responded_by_user``, ``responded_at``).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import get_current_context, task

from dropout_airflow import policy
from dropout_airflow.assets import DRIFT
from dropout_airflow.tfx import POOL, run_tfx
from dropout_airflow.tracking import record_run

REASONS = ("weekly", "drift", "manual")
log = logging.getLogger(__name__)


def _common(ctx: dict[str, Any]) -> list[str]:
    return ["--config", ctx["config"], "--span", str(ctx["span"]), "--run-id", ctx["run_id"]]


def _answer(task_id: str) -> dict[str, Any] | None:
    """The HITL answer of ``task_id`` in this run, or None when that task did not run."""
    ti = get_current_context()["ti"]
    return ti.xcom_pull(task_ids=task_id)


def _who(answer: dict[str, Any]) -> str:
    user = answer.get("responded_by_user") or {}
    # The scheduler applies the defaults when the response timeout passes; nobody answered then.
    return user.get("name") or "timeout (default applied)"


@task
def run_context() -> dict[str, Any]:
    """Span, settings file and reason of this run; recorded under the pipeline root.

    A drift-triggered run takes its span from the asset event's ``extra["span"]`` when the drift
    monitor set one; otherwise every value comes from the DAG params (``dag_run.conf`` overrides).
    """
    context = get_current_context()
    params, dag_run = context["params"], context["dag_run"]
    run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))
    span = int(params["span"])
    if run_type == "scheduled":
        reason = "weekly"
    elif run_type.startswith("asset"):
        reason = "drift"
        for events in (context.get("triggering_asset_events") or {}).values():
            for event in events:
                if "span" in (event.extra or {}):
                    span = int(event.extra["span"])
    else:
        reason = params["reason"]
    if reason not in REASONS:
        raise ValueError(f"param reason={reason!r}; expected one of {REASONS}")
    ctx = {"run_id": context["run_id"], "config": params["config"], "span": span, "reason": reason,
           "run_type": run_type}
    run_tfx(["tfx_pipeline.review", "start", *_common(ctx), "--reason", reason, "--run-type", run_type])
    return ctx


@task(pool=POOL)
def anomaly_report(ctx: dict[str, Any]) -> dict[str, Any]:
    """Schema and drift anomalies of this span as JSON + HTML under the pipeline root (count, paths, body)."""
    return run_tfx(["tfx_pipeline.review", "anomalies", *_common(ctx)])


@task.branch
def check_anomalies(report: dict[str, Any]) -> str:
    """Ask the stewards only when there is something to review."""
    return "steward_review" if report["anomalies"] else "no_anomalies"


@task.short_circuit(pool=POOL, trigger_rule="none_failed_min_one_success", ignore_downstream_trigger_rules=True)
def data_review(ctx: dict[str, Any]) -> bool:
    """Apply the steward's answer (or "no anomalies"); False skips everything downstream.

    "Accept and update schema" writes a reviewed schema version under schemas/versions/, "Reject
    batch" writes a rejection record for the span and records the run in MLflow (no model); each
    decision is recorded for the run.
    """
    answer = _answer("steward_review")
    if answer is None:
        decision, who, at = "No anomalies", "pipeline", ""
    else:
        decision, who, at = answer["chosen_options"][0], _who(answer), str(answer.get("responded_at") or "")
    result = run_tfx(["tfx_pipeline.review", "data-decision", *_common(ctx),
                      "--decision", decision, "--by", who, "--at", at])
    if not result["proceed"]:
        # Everything downstream is skipped, track_candidate included: the rejection is this run's MLflow record.
        record_run(ctx)
    return bool(result["proceed"])


@task(pool=POOL)
def candidate_summary(ctx: dict[str, Any]) -> dict[str, Any]:
    """Candidate against champion from the FairnessGate's report (blessed flag, paths, markdown body)."""
    return run_tfx(["tfx_pipeline.review", "candidate", *_common(ctx)])


@task.branch
def check_blessing(summary: dict[str, Any]) -> str:
    """Managers approve only blessed candidates; an unblessed one goes to Pusher, which pushes nothing."""
    return "manager_approval" if summary["blessed"] else "no_approval_needed"


@task.short_circuit(pool=POOL, ignore_downstream_trigger_rules=False)
def approval_decision(ctx: dict[str, Any]) -> bool:
    """Record the manager's answer; anything but "Approve" skips Pusher (nothing is pushed)."""
    answer = _answer("manager_approval")
    decision, who = answer["chosen_options"][0], _who(answer)
    result = run_tfx(["tfx_pipeline.review", "approval-decision", *_common(ctx),
                      "--decision", decision, "--by", who, "--at", str(answer.get("responded_at") or "")])
    return bool(result["approved"]) and decision == policy.APPROVE


@task(pool=POOL)
def drift_check(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Data and concept drift of the newest complete landing span against the champion (TFX env)."""
    args = ["tfx_pipeline.review", "drift-check", "--config", params["config"],
            "--max-auc-drop", str(params["max_auc_drop"]), "--max-f1-drop", str(params["max_f1_drop"])]
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
    extra = {"span": result["span"], "baseline_span": result["baseline_span"], "features": result["features"],
             "data_drift": result["data_drift"], "concept_drift": result["concept_drift"],
             "reason": result["reason"]}
    get_current_context()["outlet_events"][DRIFT].extra = extra
    log.info("%s", result["reason"])
    return extra


@task
def no_retrain_needed(result: dict[str, Any]) -> dict[str, Any]:
    """Record (task log and XCom; the full check is in the drift report) why no retrain was needed."""
    log.info("%s (report: %s)", result["reason"], result.get("report", "none"))
    return {"span": result["span"], "baseline_span": result["baseline_span"], "reason": result["reason"],
            "report": result.get("report")}
