"""The training DAG end to end: reviews answered through the REST API, and the orchestration's contract
when things break (tasks killed with SIGKILL, the warm executor killed, a node that raises).

The tests share the session's world and deployment (conftest.py) and run in file order: span 0's
statistics and the approved model are what later runs compare with.

Cost on an idle two-core machine (warm executor): ``approved_run`` about 2 min (once per session),
the rejected batch about 1 min (it stops after the data checks), the run with kills about 3 min (two
tasks run twice, one of them in a new process while the executor restarts), the manager's rejection
about 2 min, the failing node about 20 s.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
import requests
from conftest import DAG, executor_pid, review_record, run_dag

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUNS: dict[str, str] = {}  # run ids of this module's runs, for the tests that compare them

TFX_NODES = (
    "ImportSchemaGen",
    "LearnerExampleGen",
    "baseline_model",
    "previous_statistics",
    "StatisticsGen",
    "Transform",
    "DistributionValidator",
    "ExampleValidator",
    "Trainer",
    "Evaluator",
    "FairnessGate",
    "Pusher",
)


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


def pushed_versions(world: Path) -> list[Path]:
    return sorted((world / "serving" / "dropout_risk").glob("*/saved_model.pb"))


def executions(world: Path, run_id: str) -> dict[str, list[tuple[int, str, list[str]]]]:
    """ML Metadata: node -> [(execution id, state, output uris)] of pipeline run ``run_id`` (TFX env)."""
    import json
    import subprocess

    from conftest import REPO, TFX_PY

    script = """
import json, sys
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb
c = pb.ConnectionConfig(); c.sqlite.filename_uri = sys.argv[1]; c.sqlite.connection_mode = 1
s = metadata_store.MetadataStore(c)
run = s.get_context_by_type_and_name("pipeline_run", sys.argv[2])
out = {}
for e in s.get_executions_by_context(run.id):
    node = [x.name.split(".", 1)[1] for x in s.get_contexts_by_execution(e.id) if x.type_id == s.get_context_type("node").id]
    events = [v for v in s.get_events_by_execution_ids([e.id]) if v.type == pb.Event.OUTPUT]
    uris = [a.uri for a in s.get_artifacts_by_id([v.artifact_id for v in events])]
    out.setdefault(node[0], []).append([e.id, pb.Execution.State.Name(e.last_known_state), uris])
print(json.dumps(out))
"""
    out = subprocess.run(
        [TFX_PY, "-c", script, str(world / "metadata" / "metadata.sqlite"), run_id],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {k: [tuple(x) for x in v] for k, v in json.loads(out.strip().splitlines()[-1]).items()}


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


def test_manager_approval_pushes_the_candidate(airflow, world, approved_run):
    result, tasks = approved_run, approved_run["tasks"]
    assert result["state"] == "success", tasks
    candidate = review_record(world, result["run_id"], "candidate.json")
    assert candidate["blessed"], (
        f"the pipeline did not bless the candidate, so no manager was asked: {candidate['reason']}"
    )
    assert tasks["manager_approval"] == "success" and tasks["Pusher"] == "success"
    approval = review_record(world, result["run_id"], "approval.json")
    assert approval["decision"] == "Approve" and approval["by"] == "manager"
    # Only assigned users may answer: the steward's attempt at the manager's task was refused.
    assert {(p["task_id"], p["user"], p["status"]) for p in result["probes"]} >= {
        ("manager_approval", "steward", 403)
    }
    assert review_record(world, result["run_id"], "run.json")["reason"] == "manual"
    assert len(pushed_versions(world)) == 1
    recorded = mlflow_record(airflow, result["run_id"])
    assert recorded["tags"]["dropout.reason"] == "manual" and recorded["tags"]["airflow.dag_id"] == DAG
    assert recorded["metrics"]["decision/approved"] == 1.0 and recorded["metrics"]["decision/pushed"] == 1.0
    # Every TFX task ran on the warm executor (no process of its own), and said so in its log.
    assert result["log"].count("running on the warm executor") >= len(TFX_NODES), (
        "tasks did not use the executor"
    )


def test_steward_rejecting_a_drifted_batch_stops_the_run(airflow, world, approved_run):
    result = run_dag(
        airflow,
        world,
        1,
        {"steward_review": "Reject batch", "manager_approval": "Approve"},
        name="rejected-batch",
    )
    tasks = result["tasks"]
    assert tasks["steward_review"] == "success", "span 1 should show drift anomalies: " + str(tasks)
    assert tasks["data_review"] == "success"
    for downstream in ("Transform", "Trainer", "Evaluator", "FairnessGate", "manager_approval", "Pusher"):
        assert tasks[downstream] == "skipped", (downstream, tasks)
    decision = review_record(world, result["run_id"], "data_decision.json")
    assert decision["decision"] == "Reject batch" and decision["by"] == "steward"
    assert (world / "pipeline" / "rejected_spans" / "span-1.json").exists()
    report = review_record(world, result["run_id"], "anomalies.json")
    assert report["baseline_span"] == 0 and any(a["check"] == "drift" for a in report["anomalies"])
    recorded = mlflow_record(airflow, result["run_id"])
    assert (
        recorded["metrics"]["decision/data_accepted"] == 0.0
        and recorded["metrics"]["validation/drift_anomalies"] >= 1
    )
    assert "registry.version" not in recorded["tags"]


def _pid_of(log_path: Path, node: str, after: int = 0) -> tuple[int, int] | None:
    """``(pid, line number)`` of the warm-executor process that runs ``node``'s next try, from the run's log."""
    lines = log_path.read_text().splitlines()
    for i in range(after, len(lines)):
        if f" node {node} --run-id" in lines[i]:
            for j in range(i + 1, min(i + 40, len(lines))):
                found = re.search(r"running on the warm executor \S+ as pid (\d+)", lines[j])
                if found:
                    return int(found.group(1)), j
    return None


def test_killed_tasks_and_a_killed_executor_are_retried_to_one_execution_per_node(
    airflow, world, approved_run
):
    """SIGKILL the Trainer's process mid-node, then the warm executor itself mid-Evaluator: Airflow retries
    both tasks, the run completes, ML Metadata holds one execution per node, and one model is pushed."""
    before = pushed_versions(world)
    killed: dict[str, object] = {}

    def kill_during(log_path: Path) -> None:
        deadline = time.monotonic() + 900
        found = None
        while time.monotonic() < deadline and found is None:
            found = _pid_of(log_path, "Trainer")
            time.sleep(0.5)
        assert found is not None, "the Trainer never started on the warm executor"
        time.sleep(3)  # mid-node
        __import__("os").kill(found[0], signal.SIGKILL)
        killed["trainer"] = found[0]
        evaluator = None
        while time.monotonic() < deadline and evaluator is None:
            evaluator = _pid_of(log_path, "Evaluator")
            time.sleep(0.5)
        assert evaluator is not None, "the Evaluator never started on the warm executor"
        time.sleep(2)
        server = executor_pid(airflow.home)
        __import__("os").kill(server, signal.SIGKILL)
        killed["executor"] = server

    result = run_dag(
        airflow,
        world,
        0,
        {"steward_review": "Accept once", "manager_approval": "Approve"},
        name="kills",
        during=kill_during,
    )
    RUNS["kills"] = result["run_id"]
    tasks, log = result["tasks"], result["log"]
    assert {"trainer", "executor"} <= set(killed), killed
    assert result["state"] == "success", tasks
    assert f"exited with -{int(signal.SIGKILL)}" in log  # the killed Trainer failed its try ...
    assert "closed the connection before the command ended" in log  # ... and so did the Evaluator's
    assert executor_pid(airflow.home) not in (None, killed["executor"])  # the supervisor restarted it
    per_node = executions(world, result["run_id"])
    for node in TFX_NODES:
        assert len(per_node[node]) == 1, (node, per_node[node])  # the retry took over the killed execution
        expected = "FAILED" if node == "DistributionValidator" else "COMPLETE"  # span 0: nothing to compare
        assert per_node[node][0][1] == expected, (node, per_node[node])
    assert "DistributionValidator did not run: an input it needs has no artifact" in log  # said, not failed

    assert len(pushed_versions(world)) == len(before) + 1


def test_runs_back_to_back_share_no_state(world, approved_run):
    """The approved run and the run with kills trained the same span one after the other: each has its own
    executions and its own outputs (examples, model, push); nothing of the earlier run was reused."""
    if "kills" not in RUNS:
        pytest.skip(
            "needs the run of test_killed_tasks_and_a_killed_executor_are_retried_to_one_execution_per_node"
        )
    first, second = executions(world, approved_run["run_id"]), executions(world, RUNS["kills"])
    assert {e[0] for es in first.values() for e in es}.isdisjoint(
        {e[0] for es in second.values() for e in es}
    )
    for node in ("LearnerExampleGen", "Transform", "Trainer", "Pusher"):
        assert set(first[node][0][2]).isdisjoint(second[node][0][2]), node


def test_manager_rejection_pushes_nothing(airflow, world, approved_run):
    before = pushed_versions(world)
    result = run_dag(
        airflow,
        world,
        0,
        {"steward_review": "Accept once", "manager_approval": "Reject"},
        name="manager-rejection",
    )
    tasks = result["tasks"]
    candidate = review_record(world, result["run_id"], "candidate.json")
    assert candidate["blessed"], (
        f"the pipeline did not bless the candidate, so no manager was asked: {candidate['reason']}"
    )
    assert tasks["manager_approval"] == "success"
    assert tasks["approval_decision"] == "success" and tasks["Pusher"] == "skipped"
    approval = review_record(world, result["run_id"], "approval.json")
    assert approval["decision"] == "Reject" and approval["by"] == "manager" and approval["approved"] is False
    assert pushed_versions(world) == before


def test_a_node_that_raises_fails_its_task_with_the_traceback_in_the_log(airflow, world):
    broken = world / "broken.toml"
    broken.write_text(
        (world / "world.toml").read_text().replace(f'root = "{world}/data"', f'root = "{world}/no-data"')
    )
    result = run_dag(airflow, world, 0, {}, name="broken", config="broken.toml", timeout_s=600)
    tasks, log = result["tasks"], result["log"]
    assert result["state"] == "failed" and tasks["LearnerExampleGen"] == "failed", tasks
    assert tasks["StatisticsGen"] == "upstream_failed"
    assert "Traceback (most recent call last)" in log
    assert "ValueError: LearnerExampleGen: landing_root" in log and "is not a directory" in log
    tries = re.findall(
        r"running in the TFX environment: python -m dropout\.pipeline .* node LearnerExampleGen ", log
    )
    assert len(tries) == 3  # the first try and both retries
