"""The drift monitor DAG: a drifted span emits ``dropout/drift`` (which queues the training DAG), an
undrifted one records "no retrain needed" and why.

Real components throughout: the session's world and deployment (conftest.py), whose champion is the
model of ``approved_run`` (span 0), and ``airflow dags test`` runs of ``dropout_drift_monitor`` with the
world's ``monitor.toml``. Asset events and the training DAG's queue are read back through the REST API.

Thresholds: the monitor's schema copy raises the Jensen-Shannon drift thresholds of numeric features
from the curated 0.1 to 0.22. Measured with this dataset: span 1 (no injected drift) differs from
span 0 by up to 0.198 (downloads; 0.158 explanation_watched), because the generator's learners enrol
during span 0 and fade afterwards, so the curated 0.1 calls every new span drifted; span 2's dwell
time is at 0.265.

Cost: two monitor runs, about 30 s each on an idle two-core machine (plus ``approved_run`` if no
earlier test made it).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MONITOR, TRAINING = "dropout_drift_monitor", "dropout_training"


def drift_events(api) -> list[dict]:
    events = api.get("/assets/events", "platform", source_dag_id=MONITOR, limit=100)["asset_events"]
    return [e for e in events if e["name"] == "dropout/drift"]  # (Airflow stores the uri as dropout://drift/)


def queued(api) -> list[dict]:
    response = api.request("GET", f"/dags/{TRAINING}/assets/queuedEvents", "platform")
    if response.status_code == 404:  # nothing queued
        return []
    response.raise_for_status()
    return response.json()["queued_events"]


def run_monitor(airflow, root: Path, span: int) -> dict:
    """One ``airflow dags test`` run of the monitor on ``span``: {"run_id", "tasks", "report"}."""
    conf = json.dumps(
        {"config": str(root / "monitor.toml"), "span": span, "max_auc_drop": 0.15, "max_f1_drop": 0.3}
    )
    with open(root / f"monitor-span{span}.log", "w") as log:
        proc = airflow.shell(
            f"exec airflow dags test {MONITOR} -c '{conf}'", stdout=log, stderr=subprocess.STDOUT
        )
        assert proc.wait(timeout=1200) == 0, (root / f"monitor-span{span}.log").read_text()[-4000:]
    run = airflow.api.latest_run(MONITOR, "platform")
    assert run is not None and run["state"] == "success", run
    report = json.loads((root / "pipeline" / "drift_monitor" / f"span-{span}" / "drift.json").read_text())
    return {
        "run_id": run["dag_run_id"],
        "tasks": airflow.api.task_states(MONITOR, run["dag_run_id"], "platform"),
        "report": report,
    }


@pytest.fixture(scope="module")
def deployment(airflow):
    """The shared deployment with both DAGs in its database and the training DAG unpaused (no scheduler runs,
    so an asset event only queues a training run); paused again and its queue emptied afterwards."""
    for command in ("airflow dags reserialize", f"airflow dags unpause {TRAINING}"):
        assert airflow.shell(command + " >/dev/null").wait() == 0, command
    yield airflow
    airflow.api.request("DELETE", f"/dags/{TRAINING}/assets/queuedEvents", "platform")
    airflow.shell(f"airflow dags pause {TRAINING} >/dev/null").wait()


def test_undrifted_span_records_no_retrain_needed(deployment, world, approved_run):
    before = drift_events(deployment.api)
    result = run_monitor(deployment, world, span=1)
    tasks, report = result["tasks"], result["report"]
    assert tasks["drift_check"] == "success"
    assert tasks["no_retrain_needed"] == "success" and tasks["emit_drift"] == "skipped", tasks
    assert report["span"] == 1 and report["baseline_span"] == 0
    assert report["champion_run"] == approved_run["run_id"]  # the model being served
    assert report["drift"] is False and report["features"] == [] and report["anomalies"] == [], report
    # Why: both checks ran and stayed within their thresholds.
    assert report["reason"].startswith("no retrain needed: no data drift"), report["reason"]
    assert report["concept"]["measured"] is True and report["concept"]["learners"] > 100, report["concept"]
    assert "no concept drift: AUC" in report["reason"]
    assert drift_events(deployment.api) == before
    assert queued(deployment.api) == []


def test_drifted_span_emits_the_asset_event_that_queues_training(deployment, world, approved_run):
    before = {e["id"] for e in drift_events(deployment.api)}
    result = run_monitor(deployment, world, span=2)
    tasks, report = result["tasks"], result["report"]
    assert tasks["emit_drift"] == "success" and tasks["no_retrain_needed"] == "skipped", tasks
    assert report["drift"] is True and report["data_drift"] is True, report["reason"]
    # App 3.0 halves dwell times: that comparator fires, with its measurement.
    assert "mean_dwell_seconds" in report["features"], report["features"]
    assert report["reason"].startswith("retrain: data drift in"), report["reason"]
    for anomaly in report["anomalies"]:
        for m in anomaly["measurements"]:
            assert m["value"] > m["threshold"], anomaly
    new = [e for e in drift_events(deployment.api) if e["id"] not in before]
    assert len(new) == 1, new
    event = new[0]
    assert event["source_run_id"] == result["run_id"] and event["source_task_id"] == "emit_drift"
    assert event["extra"]["span"] == 2 and event["extra"]["baseline_span"] == 0
    assert set(event["extra"]["features"]) == set(report["features"])
    # The training DAG is scheduled on this asset: the event queued a run of it for the scheduler.
    assert [q["dag_id"] for q in queued(deployment.api)] == [TRAINING]
