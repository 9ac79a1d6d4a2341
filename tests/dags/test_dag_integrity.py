"""Every DAG loads; house rules hold; the training DAG's TFX tasks and edges are the pipeline's (Airflow env)."""

import json
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import BundleDagBag

REPO = Path(__file__).resolve().parents[2]
GRAPH = json.loads((REPO / "dags" / "pipeline_graph.json").read_text())


@pytest.fixture(scope="module")
def dagbag():
    # Airflow 3.3's DagBag has no include_examples (examples are a bundle, off via LOAD_EXAMPLES=False);
    # BundleDagBag puts the folder on sys.path, as the DAG processor and workers do.
    dags = REPO / "dags"
    return BundleDagBag(dag_folder=str(dags), bundle_path=dags, bundle_name="dags-folder")


@pytest.fixture(scope="module")
def training(dagbag):
    return dagbag.dags["dropout_training"]


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "dropout_training" in dagbag.dag_ids


def test_house_rules(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and dag.doc_md.strip(), f"{dag_id} has no doc_md"
        assert dag.catchup is False, f"{dag_id} catches up"
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag_id}.{task.task_id} retries={task.retries}"


def test_acyclic(training):
    order, seen = [], set()
    indegree = {t.task_id: len(t.upstream_task_ids) for t in training.tasks}
    ready = [t for t, d in indegree.items() if d == 0]
    while ready:
        task_id = ready.pop()
        order.append(task_id)
        seen.add(task_id)
        for down in training.get_task(task_id).downstream_task_ids:
            indegree[down] -= 1
            if indegree[down] == 0:
                ready.append(down)
    assert len(order) == len(training.tasks), f"cycle among {set(indegree) - seen}"


def test_tfx_tasks_and_edges_are_the_pipeline_graph(training):
    nodes = set(GRAPH["nodes"])
    assert nodes <= set(training.task_ids)
    tfx_edges = {
        (up, t.task_id)
        for t in training.tasks
        if t.task_id in nodes
        for up in t.upstream_task_ids
        if up in nodes
    }
    assert tfx_edges == {tuple(e) for e in GRAPH["edges"]}
    for node_id in nodes:
        task = training.get_task(node_id)
        assert task.pool == "tfx_metadata", node_id
        assert type(task).__name__ == "TfxNodeOperator", node_id


def test_reviews_gate_transform_and_pusher(training):
    assert {"ExampleValidator", "DistributionValidator"} <= training.get_task(
        "anomaly_report"
    ).upstream_task_ids
    assert "data_review" in training.get_task("Transform").upstream_task_ids
    assert training.get_task("data_review").ignore_downstream_trigger_rules is True
    assert training.get_task("check_anomalies").downstream_task_ids == {"steward_review", "no_anomalies"}
    assert training.get_task("check_blessing").downstream_task_ids == {
        "manager_approval",
        "no_approval_needed",
    }
    assert "FairnessGate" in training.get_task("candidate_summary").upstream_task_ids
    assert {"approval_decision", "no_approval_needed"} <= training.get_task("Pusher").upstream_task_ids


def test_hitl_tasks_name_their_respondents(training):
    steward = training.get_task("steward_review")
    manager = training.get_task("manager_approval")
    assert [u["id"] for u in steward.assigned_users] == ["steward"]
    assert steward.options == ["Accept and update schema", "Accept once", "Reject batch"]
    assert steward.defaults == ["Reject batch"]
    assert [u["id"] for u in manager.assigned_users] == ["manager"]
    assert manager.options == ["Approve", "Reject"] and manager.defaults == ["Reject"]
    assert manager.response_timeout is not None


def test_params_and_schedule(training):
    assert training.params["span"] == 0
    assert training.params["reason"] == "manual"
    assert training.params["config"] == "config/default.toml"
    assert training.timetable.asset_condition.name == "dropout/drift"  # drift-triggered ...
    assert training.timetable.timetable.expression == "0 3 * * 1"  # ... and weekly
    assert training.max_active_runs == 1


def test_drift_monitor_emits_the_asset_training_is_scheduled_on(dagbag, training):
    monitor = dagbag.dags["dropout_drift_monitor"]
    emit = monitor.get_task("emit_drift")
    assert [a.name for a in emit.outlets] == [training.timetable.asset_condition.name]
    assert emit.upstream_task_ids == {"drift_found", "drift_check"}
    assert monitor.get_task("drift_check").pool == "tfx_metadata"
    # Below the thresholds the monitor records why no retrain was needed instead of emitting.
    assert monitor.get_task("drift_found").downstream_task_ids == {"emit_drift", "no_retrain_needed"}
    assert monitor.get_task("no_retrain_needed").outlets == []
    assert monitor.params["span"] is None and monitor.params["max_auc_drop"] == 0.05
