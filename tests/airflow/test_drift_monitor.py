"""The drift monitor DAG: a drifted span emits ``dropout/drift`` (which queues the training DAG), an
undrifted one records "no retrain needed" and why.

Real components throughout: a champion trained and pushed by the TFX pipeline on span 0 of a small
generated dataset (600 learners x 30 days; from day 20, span 2, a new app version halves dwell times
and doubles logins), the throwaway Airflow deployment of ``conftest.py`` and ``airflow dags test`` runs
of ``dropout_drift_monitor``. Asset events and the training DAG's queue are read back through the REST API.

Thresholds: the schema copy raises the Jensen-Shannon drift thresholds of numeric features from the
curated 0.1 to 0.22. Measured with this dataset: span 1 (no injected drift) differs from span 0 by up
to 0.198 (downloads; 0.158 explanation_watched), because the generator's learners enrol during span 0
and fade afterwards, so the curated 0.1 calls every new span drifted; span 2's dwell time is at 0.265.

Slow: the champion's training dominates (~10 min on an idle two-core machine, ~45 min when shared).
``DROPOUT_DRIFT_WORLD=<dir of an earlier run's world>`` reuses that world's data and champion.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MONITOR, TRAINING = "dropout_drift_monitor", "dropout_training"
TFX_PY = str(REPO / ".venv-tfx" / "bin" / "python")

NUMERIC_DRIFT_THRESHOLD = 0.22  # see the module docstring
# A fixed pseudonymisation key keeps the train/eval split, and so the baseline statistics, reproducible.
TEST_KEY = "5" * 64

GENERATE = """
import sys
from lab.generator import GeneratorConfig, generate
generate(sys.argv[1], GeneratorConfig(learners=600, days=30, seed=11, app_version_change_day=20))
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory, world_settings):
    """Three spans of landing data and a champion pushed from span 0; returns the settings file."""
    reuse = os.environ.get("DROPOUT_DRIFT_WORLD")
    if reuse:
        root = Path(reuse)
        assert list((root / "serving" / "dropout_risk").glob("*/saved_model.pb")), f"no champion in {root}"
        return root, root / "drift.toml"
    root = tmp_path_factory.mktemp("dropout-drift")
    config = root / "drift.toml"
    config.write_text(world_settings(root, epochs=8, auc_floor=0.55))
    (root / "pseudonym.key").write_text(TEST_KEY)
    shutil.copytree(REPO / "schemas", root / "schemas")
    schema = root / "schemas" / "schema.pbtxt"
    schema.write_text(
        re.sub(
            r"(drift_comparator \{ jensen_shannon_divergence \{ threshold: )[0-9.]+",
            rf"\g<1>{NUMERIC_DRIFT_THRESHOLD}",
            schema.read_text(),
        )
    )
    subprocess.run([TFX_PY, "-c", GENERATE, str(root / "data")], cwd=REPO, check=True)
    with open(root / "champion.log", "w") as log:
        trained = subprocess.run(
            [
                TFX_PY,
                "-m",
                "dropout.pipeline",
                "--config",
                str(config),
                "--span",
                "0",
                "run",
                "--run-id",
                "champion-span0",
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    assert trained.returncode == 0, (root / "champion.log").read_text()[-4000:]
    assert list((root / "serving" / "dropout_risk").glob("*/saved_model.pb")), (
        "the span 0 model was not pushed, so there is no champion: "
        + (root / "champion.log").read_text()[-2000:]
    )
    return root, config


def drift_events(api) -> list[dict]:
    events = api.get("/assets/events", "platform", source_dag_id=MONITOR, limit=100)["asset_events"]
    return [e for e in events if e["name"] == "dropout/drift"]  # (Airflow stores the uri as dropout://drift/)


def queued(api) -> list[dict]:
    response = api.request("GET", f"/dags/{TRAINING}/assets/queuedEvents", "platform")
    if response.status_code == 404:  # nothing queued
        return []
    response.raise_for_status()
    return response.json()["queued_events"]


def run_monitor(airflow, root: Path, config: Path, span: int) -> dict:
    """One ``airflow dags test`` run of the monitor on ``span``: {"run_id", "tasks", "report"}."""
    conf = json.dumps({"config": str(config), "span": span, "max_auc_drop": 0.15, "max_f1_drop": 0.3})
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


def test_undrifted_span_records_no_retrain_needed(deployment, world):
    root, config = world
    before = drift_events(deployment.api)
    result = run_monitor(deployment, root, config, span=1)
    tasks, report = result["tasks"], result["report"]
    assert tasks["drift_check"] == "success"
    assert tasks["no_retrain_needed"] == "success" and tasks["emit_drift"] == "skipped", tasks
    assert report["span"] == 1 and report["baseline_span"] == 0 and report["champion_run"] == "champion-span0"
    assert report["drift"] is False and report["features"] == [] and report["anomalies"] == [], report
    # Why: both checks ran and stayed within their thresholds.
    assert report["reason"].startswith("no retrain needed: no data drift"), report["reason"]
    assert report["concept"]["measured"] is True and report["concept"]["learners"] > 100, report["concept"]
    assert "no concept drift: AUC" in report["reason"]
    assert drift_events(deployment.api) == before
    assert queued(deployment.api) == []


def test_drifted_span_emits_the_asset_event_that_queues_training(deployment, world):
    root, config = world
    before = {e["id"] for e in drift_events(deployment.api)}
    result = run_monitor(deployment, root, config, span=2)
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
