"""The early-warning DAG: score -> skew report -> steward review only on skew -> interventions -> outcomes (Airflow env)."""

from pathlib import Path

import pytest

pytest.importorskip(
    "airflow", reason="Airflow environment only (.venv-airflow); the TFX env cannot import it"
)

from airflow.dag_processing.dagbag import BundleDagBag  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def warning_dag():
    dags = REPO / "dags"
    bag = BundleDagBag(dag_folder=str(dags), bundle_path=dags, bundle_name="dags-folder")
    assert bag.import_errors == {}
    return bag.dags["dropout_early_warning"]


def _edges(dag):
    return {(up, t.task_id) for t in dag.tasks for up in t.upstream_task_ids}


def test_interventions_wait_for_the_skew_check_and_the_steward(warning_dag):
    assert set(warning_dag.task_ids) == {
        "score",
        "skew_report",
        "check_skew",
        "steward_review",
        "no_skew",
        "interventions",
        "outcomes",
    }
    assert _edges(warning_dag) == {
        ("score", "skew_report"),
        ("skew_report", "check_skew"),
        ("check_skew", "steward_review"),
        ("check_skew", "no_skew"),
        ("steward_review", "interventions"),
        ("no_skew", "interventions"),
        ("interventions", "outcomes"),
    }
    # One of the two branches is skipped on every run; interventions still runs after the other.
    assert warning_dag.get_task("interventions").trigger_rule == "none_failed_min_one_success"
    assert warning_dag.get_task("check_skew").task_type in (
        "BranchPythonDecoratedOperator",
        "_BranchPythonDecoratedOperator",
    )
    for task in warning_dag.tasks:
        assert task.retries >= 2, task.task_id


def test_steward_review_answers_and_silence_holds(warning_dag):
    from dropout_airflow import policy

    from dropout.contract import decisions

    review = warning_dag.get_task("steward_review")
    assert review.task_type == "HITLOperator"
    assert review.options == ["Act on scores", "Hold interventions"]
    assert review.defaults == ["Hold interventions"]  # nobody answered: nothing goes out
    assert review.response_timeout == decisions.SKEW_REVIEW_TIMEOUT
    assert [u["id"] for u in review.assigned_users] == list(policy.STEWARDS)
    assert "skew_report" in review.body and "body" in review.body


def test_decisions_come_from_the_contract_the_tfx_side_checks(warning_dag):
    """One definition: the form's options are dropout.contract.decisions', which dropout.warning.job accepts."""
    from dropout.contract import decisions

    review = warning_dag.get_task("steward_review")
    assert review.options == list(decisions.SKEW_OPTIONS)
    assert (
        set(decisions.SKEW_OPTIONS) < set(decisions.SKEW_DECISIONS)
        and decisions.NO_SKEW in decisions.SKEW_DECISIONS
    )


def test_branch_asks_only_when_there_is_skew():
    from dropout_airflow import warning as steps

    choose = steps.check_skew.function
    assert choose({"skew": True, "anomalies": 2}) == "steward_review"
    assert choose({"skew": False, "anomalies": 0}) == "no_skew"
