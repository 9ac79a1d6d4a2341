"""The training DAG end to end, with the steward and the manager answering through the REST API.

Slow (every TFX node is a subprocess of the TFX env): ``pytest tests/airflow -m e2e``. The tests run in
file order and share one ML Metadata store: span 0's statistics are span 1's drift baseline and the
first pushed model is the champion of the last run.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAG = "dropout_training"


def run_dag(airflow, e2e_root: Path, span: int, answers: dict[str, str]) -> dict:
    """One `airflow dags test` run, reviews answered by ``answers``; returns answer_run's result."""
    from hitl import answer_run

    conf = json.dumps({"span": span, "config": str(e2e_root / "config" / "e2e.toml"), "reason": "manual"})
    log = open(e2e_root / f"dags-test-span{span}.log", "a")
    proc = airflow.shell(f"exec airflow dags test {DAG} -c '{conf}'", stdout=log, stderr=subprocess.STDOUT)
    try:
        result = answer_run(
            airflow.api, DAG, answers, "platform", timeout_s=3600, poll_s=3, probe_unassigned=True
        )
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    return result


def review_record(e2e_root: Path, run_id: str, name: str) -> dict:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in run_id)
    return json.loads((e2e_root / "pipeline" / "reviews" / safe / name).read_text())


def mlflow_record(airflow, run_id: str) -> dict:
    """The complete MLflow run of this DAG run (tracking server's REST API): {"name", "tags", "metrics"}."""
    uri = airflow.env["DROPOUT__TRACKING__URI"]
    exp = requests.get(
        f"{uri}/api/2.0/mlflow/experiments/get-by-name",
        params={"experiment_name": "dropout-risk"},
        timeout=30,
    ).json()["experiment"]
    found = requests.post(
        f"{uri}/api/2.0/mlflow/runs/search",
        timeout=30,
        json={
            "experiment_ids": [exp["experiment_id"]],
            "filter": f"tags.`tfx.pipeline_run_id` = '{run_id}' and tags.`complete` = 'true'",
        },
    ).json()
    runs = found.get("runs", [])
    assert len(runs) == 1, f"expected one complete MLflow run for {run_id}: {found}"
    data = runs[0]["data"]
    return {
        "name": runs[0]["info"].get("run_name", ""),
        "tags": {t["key"]: t["value"] for t in data.get("tags", [])},
        "metrics": {m["key"]: m["value"] for m in data.get("metrics", [])},
    }


def pushed_versions(e2e_root: Path) -> list[Path]:
    return (
        sorted((e2e_root / "serving" / "dropout_risk").glob("*")) if (e2e_root / "serving").exists() else []
    )


def test_api_requires_a_login(airflow):
    api = airflow.api
    assert requests.get(api.base_url + "/api/v2/dags", timeout=30).status_code == 401
    assert (
        requests.post(
            api.base_url + "/auth/token", json={"username": "steward", "password": "x"}, timeout=30
        ).status_code
        == 401
    )
    assert api.request("GET", "/dags", "steward").status_code == 200


def test_manager_approval_pushes_the_candidate(airflow, e2e_root):
    result = run_dag(airflow, e2e_root, 0, {"steward_review": "Accept once", "manager_approval": "Approve"})
    tasks = result["tasks"]
    assert result["state"] == "success", tasks
    candidate = review_record(e2e_root, result["run_id"], "candidate.json")
    assert candidate["blessed"], (
        f"the pipeline did not bless the candidate, so no manager was asked: {candidate['reason']}"
    )
    assert tasks["manager_approval"] == "success" and tasks["Pusher"] == "success"
    approval = review_record(e2e_root, result["run_id"], "approval.json")
    assert approval["decision"] == "Approve" and approval["by"] == "manager"
    # Only assigned users may answer: the steward's attempt at the manager's task was refused.
    assert {(p["task_id"], p["user"], p["status"]) for p in result["probes"]} >= {
        ("manager_approval", "steward", 403)
    }
    assert review_record(e2e_root, result["run_id"], "run.json")["reason"] == "manual"
    assert len(pushed_versions(e2e_root)) == 1
    recorded = mlflow_record(airflow, result["run_id"])
    assert recorded["tags"]["dropout.reason"] == "manual" and recorded["tags"]["airflow.dag_id"] == DAG
    assert recorded["metrics"]["decision/approved"] == 1.0 and recorded["metrics"]["decision/pushed"] == 1.0


def test_steward_rejecting_a_drifted_batch_stops_the_run(airflow, e2e_root):
    result = run_dag(airflow, e2e_root, 1, {"steward_review": "Reject batch", "manager_approval": "Approve"})
    tasks = result["tasks"]
    assert tasks["steward_review"] == "success", "span 1 (a new cohort) should show anomalies: " + str(tasks)
    assert tasks["data_review"] == "success"
    for downstream in ("Transform", "Trainer", "Evaluator", "FairnessGate", "manager_approval", "Pusher"):
        assert tasks[downstream] == "skipped", (downstream, tasks)
    decision = review_record(e2e_root, result["run_id"], "data_decision.json")
    assert decision["decision"] == "Reject batch" and decision["by"] == "steward"
    rejected = json.loads((e2e_root / "pipeline" / "rejected_spans" / "span-1.json").read_text())
    assert rejected["run_id"] == result["run_id"]
    report = review_record(e2e_root, result["run_id"], "anomalies.json")
    assert report["span"] == 1 and report["baseline_span"] == 0 and report["anomalies"]
    # The rejected run is still one MLflow run: data, anomalies and the decision, no model.
    recorded = mlflow_record(airflow, result["run_id"])
    assert (
        recorded["tags"]["dropout.data_decision"] == "Reject batch" and "batch rejected" in recorded["name"]
    )
    assert (
        recorded["metrics"]["decision/data_accepted"] == 0.0
        and recorded["metrics"]["validation/drift_anomalies"] >= 1
    )
    assert "registry.version" not in recorded["tags"]


def test_manager_rejection_pushes_nothing(airflow, e2e_root):
    before = pushed_versions(e2e_root)
    result = run_dag(airflow, e2e_root, 0, {"steward_review": "Accept once", "manager_approval": "Reject"})
    tasks = result["tasks"]
    candidate = review_record(e2e_root, result["run_id"], "candidate.json")
    assert candidate["blessed"], (
        f"the pipeline did not bless the candidate, so no manager was asked: {candidate['reason']}"
    )
    assert tasks["manager_approval"] == "success"
    assert tasks["approval_decision"] == "success" and tasks["Pusher"] == "skipped"
    approval = review_record(e2e_root, result["run_id"], "approval.json")
    assert approval["decision"] == "Reject" and approval["by"] == "manager" and approval["approved"] is False
    assert pushed_versions(e2e_root) == before
