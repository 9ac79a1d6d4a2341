"""The early-warning DAG's steps: score, skew report, the steward's answer, interventions, outcomes.

Each step runs ``python -m dropout.warning <command>`` in the TFX environment (``run_tfx``); the
functions here only pick the arguments and how Airflow branches on the result. Interventions go out
only once the data is trusted: the skew check found nothing, or a steward chose "Act on scores".
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import get_current_context, task

from dropout.contract import decisions
from dropout_airflow.tfx import run_tfx


def _base(params: dict[str, Any]) -> list[str]:
    return ["--config", params["config"], "--run-id", get_current_context()["run_id"]]


@task
def score(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Risk list and reasons for the newest landing data, and its serving statistics; sends nothing."""
    assert params is not None
    args = ["dropout.warning", "score", *_base(params)]
    if params.get("as_of"):
        args += ["--as-of", params["as_of"]]
    return run_tfx(args)


@task
def skew_report(scored: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Skew of this run's serving examples against the champion's training statistics (JSON + HTML report)."""
    assert params is not None
    return run_tfx(["dropout.warning", "skew", *_base(params)])


@task.branch
def check_skew(report: dict[str, Any]) -> str:
    """Ask the stewards only when there is skew to review."""
    return "steward_review" if report["skew"] else "no_skew"


def _decision() -> list[str]:
    """The steward's answer as ``act`` arguments; "No skew" when no review ran."""
    answer = get_current_context()["ti"].xcom_pull(task_ids="steward_review")
    if answer is None:
        return ["--decision", decisions.NO_SKEW, "--by", "pipeline"]
    user = answer.get("responded_by_user") or {}
    # The scheduler applies the default when the response timeout passes; nobody answered then.
    who = user.get("name") or decisions.TIMEOUT_ANSWERER
    decision = answer["chosen_options"][0]
    args = ["--decision", decision, "--by", who, "--at", str(answer.get("responded_at") or "")]
    if decision == decisions.HOLD_INTERVENTIONS:
        args += ["--reason", f"steward review of the skew report: {decision} ({who})"]
    return args


@task(trigger_rule="none_failed_min_one_success")
def interventions(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send the run's interventions, or record that they were held and why (nothing sent)."""
    assert params is not None
    return run_tfx(["dropout.warning", "act", *_base(params), *_decision()])


@task
def outcomes(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Did the learners acted on come back? (sent interventions whose outcome is due)"""
    assert params is not None
    return run_tfx(["dropout.warning", "outcomes", "--config", params["config"]])
