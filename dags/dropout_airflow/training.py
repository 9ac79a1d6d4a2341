"""The training DAG's steps around the TFX nodes: run context, the steward's review, the manager's approval.

Each step that reads ML Metadata or writes records under the pipeline root runs ``python -m dropout.review``
in the TFX environment (``run_tfx``); the functions here only pick what to pass and how Airflow
branches on the answer. HITL answers arrive as the HITL tasks' XCom (``chosen_options``,
``responded_by_user``, ``responded_at``).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import get_current_context, task

from dropout.contract import decisions
from dropout_airflow.tfx import POOL, run_tfx
from dropout_airflow.tracking import record_run

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
    return user.get("name") or decisions.TIMEOUT_ANSWERER


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
        reason = decisions.WEEKLY
    elif run_type.startswith("asset"):
        reason = decisions.DRIFT
        for events in (context.get("triggering_asset_events") or {}).values():
            for event in events:
                if "span" in (event.extra or {}):
                    span = int(event.extra["span"])
    else:
        reason = params["reason"]
    if reason not in decisions.RUN_REASONS:
        raise ValueError(f"param reason={reason!r}; expected one of {decisions.RUN_REASONS}")
    ctx = {
        "run_id": context["run_id"],
        "config": params["config"],
        "span": span,
        "reason": reason,
        "run_type": run_type,
    }
    run_tfx(["dropout.review", "start", *_common(ctx), "--reason", reason, "--run-type", run_type])
    return ctx


@task(pool=POOL)
def anomaly_report(ctx: dict[str, Any]) -> dict[str, Any]:
    """Schema and drift anomalies of this span as JSON + HTML under the pipeline root (count, paths, body)."""
    return run_tfx(["dropout.review", "anomalies", *_common(ctx)])


@task.branch
def check_anomalies(report: dict[str, Any]) -> str:
    """Ask the stewards only when there is something to review."""
    return "steward_review" if report["anomalies"] else "no_anomalies"


@task.short_circuit(
    pool=POOL, trigger_rule="none_failed_min_one_success", ignore_downstream_trigger_rules=True
)
def data_review(ctx: dict[str, Any]) -> bool:
    """Apply the steward's answer (or "no anomalies"); False skips everything downstream.

    "Accept and update schema" writes a reviewed schema version under schemas/versions/, "Reject
    batch" writes a rejection record for the span and records the run in MLflow (no model); each
    decision is recorded for the run.
    """
    answer = _answer("steward_review")
    if answer is None:
        decision, who, at = decisions.NO_ANOMALIES, "pipeline", ""
    else:
        decision, who, at = answer["chosen_options"][0], _who(answer), str(answer.get("responded_at") or "")
    result = run_tfx(
        ["dropout.review", "data-decision", *_common(ctx), "--decision", decision, "--by", who, "--at", at]
    )
    if not result["proceed"]:
        # Everything downstream is skipped, track_candidate included: the rejection is this run's MLflow record.
        record_run(ctx)
    return bool(result["proceed"])


@task(pool=POOL)
def candidate_summary(ctx: dict[str, Any]) -> dict[str, Any]:
    """Candidate against champion from the FairnessGate's report (blessed flag, paths, markdown body)."""
    return run_tfx(["dropout.review", "candidate", *_common(ctx)])


@task.branch
def check_blessing(summary: dict[str, Any]) -> str:
    """Managers approve only blessed candidates; an unblessed one goes to Pusher, which pushes nothing."""
    return "manager_approval" if summary["blessed"] else "no_approval_needed"


@task.short_circuit(pool=POOL, ignore_downstream_trigger_rules=False)
def approval_decision(ctx: dict[str, Any]) -> bool:
    """Record the manager's answer; anything but "Approve" skips Pusher (nothing is pushed)."""
    answer = _answer("manager_approval")
    if answer is None:
        raise RuntimeError("manager_approval left no answer in XCom; this task runs only after it")
    decision, who = answer["chosen_options"][0], _who(answer)
    result = run_tfx(
        [
            "dropout.review",
            "approval-decision",
            *_common(ctx),
            "--decision",
            decision,
            "--by",
            who,
            "--at",
            str(answer.get("responded_at") or ""),
        ]
    )
    return bool(result["approved"]) and decision == decisions.APPROVE
