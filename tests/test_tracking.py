"""MLflow tracking and the model registry against real MLflow servers started by ``infra/mlflow/start.sh``.

Servers on free localhost ports with throwaway SQLite stores (a plain one, and one with MLflow's
basic-auth app for the authentication test), started once per module and stopped with ``stop.sh``. The ``world`` fixture runs the
real pipeline on a tiny generated dataset for two spans the way the training DAG does: nodes up to the
FairnessGate, ``record`` (challenger), the manager's decision, Pusher, ``promote`` (champion); span 1
is first rejected, then approved before Pusher ran (refused), then promoted after the push.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import _worlds  # tests/_worlds.py
import pytest

from dropout.contract import decisions
from dropout.contract.settings import load_settings
from dropout.registry import aliases, connection, plots, record

REPO = Path(__file__).resolve().parents[1]
START, STOP = REPO / "infra" / "mlflow" / "start.sh", REPO / "infra" / "mlflow" / "stop.sh"
RUNS = {0: "track-span0", 1: "track-span1", "rejected": "track-span1-rejected"}
# What runs before the steward's review (the data checks); a rejected batch stops there.
DATA_CHECKS = (
    "ImportSchemaGen",
    "LearnerExampleGen",
    "previous_statistics",
    "StatisticsGen",
    "ExampleValidator",
    "DistributionValidator",
)
EPOCHS = 2
PNG = b"\x89PNG\r\n\x1a\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env(home: Path, auth: bool) -> dict[str, str]:
    return {
        **os.environ,
        "MLFLOW_HOME": str(home),
        "MLFLOW_PORT": str(_free_port()),
        "MLFLOW_AUTH": "1" if auth else "0",
        "MLFLOW_START_TIMEOUT": "200",
    }


def _start(home: Path, auth: bool) -> tuple[str, dict[str, str]]:
    env = _server_env(home, auth)
    proc = subprocess.run(["bash", str(START)], env=env, capture_output=True, text=True, timeout=480)
    url = f"http://127.0.0.1:{env['MLFLOW_PORT']}"
    if proc.returncode != 0 or url not in proc.stdout:  # start.sh prints its URL
        subprocess.run(["bash", str(STOP)], env=env, capture_output=True, timeout=60)
        pytest.fail(f"infra/mlflow/start.sh (auth={auth}) failed:\n{proc.stdout}\n{proc.stderr}")
    return url, env


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """URL of a plain tracking server (SQLite store in a temp dir), stopped with stop.sh after the module."""
    url, env = _start(tmp_path_factory.mktemp("mlflow"), auth=False)
    yield url
    subprocess.run(["bash", str(STOP)], env=env, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    """(URL, admin password) of a tracking server running MLflow's basic-auth app."""
    home = tmp_path_factory.mktemp("mlflow-auth")
    url, env = _start(home, auth=True)
    yield url, (home / "admin_password").read_text().strip()
    subprocess.run(["bash", str(STOP)], env=env, capture_output=True, timeout=60)


def _settings(root: Path, uri: str, tag: str, **extra: str):
    env = _worlds.world_env(
        root,
        "tracking-test-key",
        **{
            "DROPOUT__MODEL__EPOCHS": str(EPOCHS),
            "DROPOUT__MODEL__BATCH_SIZE": "32",
            "DROPOUT__MODEL__LSTM_UNITS": "8",
            "DROPOUT__MODEL__DENSE_UNITS": "8",
            # Tiny data: blessing must not hinge on noise; the gates themselves are tested elsewhere.
            "DROPOUT__EVALUATION__AUC_FLOOR": "0.0",
            "DROPOUT__EVALUATION__REGRESSION_TOLERANCE": "1.0",
            "DROPOUT__EVALUATION__MAX_RECALL_GAP": "1.0",
            "DROPOUT__TRACKING__URI": uri,
            "DROPOUT__TRACKING__EXPERIMENT": f"test-{tag}",
            "DROPOUT__TRACKING__REGISTERED_MODEL": f"dropout_risk_test_{tag}",
            "DROPOUT__TRACKING__HTTP_RETRIES": "1",
            **extra,
        },
    )
    return load_settings(REPO / "config" / "default.toml", env=env)


def _run_until_pusher(settings, span: int, run_id: str) -> None:
    from dropout.pipeline import runner

    ir = runner.compile_ir(settings, span)
    for node in runner.graph(ir)["nodes"]:
        if node != "Pusher":
            runner.run_node(ir, node, run_id)


def _run_data_checks(settings, span: int, run_id: str) -> None:
    from dropout.pipeline import runner

    ir = runner.compile_ir(settings, span)
    for node in runner.graph(ir)["nodes"]:
        if node in DATA_CHECKS:
            runner.run_node(ir, node, run_id)


def _run_pusher(settings, span: int, run_id: str) -> None:
    from dropout.pipeline import runner

    runner.run_node(runner.compile_ir(settings, span), "Pusher", run_id)


def _aliases(c, name: str) -> dict[str, str | None]:
    return {a: aliases.alias_version(c, name, a) for a in ("champion", "challenger")}


@pytest.fixture(scope="module")
def world(server, tmp_path_factory):
    """Two spans through the pipeline, recorded, decided and promoted as the training DAG does."""
    from dropout.review import approval, data_review, records
    from lab.generator import GeneratorConfig, generate

    root = tmp_path_factory.mktemp("tracking")
    generate(
        root / "data",
        GeneratorConfig(learners=300, days=20, seed=11, malformed_rate=0.003, app_version_change_day=10),
    )
    settings = _settings(root, server, uuid.uuid4().hex[:8])
    name = settings.tracking.registered_model
    c = connection.client(settings.tracking)
    seen: dict[str, object] = {}
    drift = {"span": 1, "baseline_span": 0, "features": ["logins", "mean_dwell_seconds"], "max_js": 0.31}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DROPOUT_PSEUDONYM_KEY", "tracking-test-key")  # the ExampleGen executor reads it
        # Span 0: weekly run, approved, pushed, promoted.
        records.record_start(settings, RUNS[0], 0, "weekly", "scheduled", "config/default.toml")
        _run_until_pusher(settings, 0, RUNS[0])
        seen["record0"] = record.record_training(
            settings, RUNS[0], dag_id="dropout_training", airflow_run_id=RUNS[0]
        )
        approval.record_approval(settings, RUNS[0], 0, decisions.APPROVE, "manager", "")
        _run_pusher(settings, 0, RUNS[0])
        seen["promote0"] = aliases.promote_champion(settings, RUNS[0])
        # Span 1: drift-triggered; rejected first, then approved before and after Pusher ran.
        records.record_start(settings, RUNS[1], 1, "drift", "asset_triggered", "config/default.toml")
        _run_until_pusher(settings, 1, RUNS[1])
        seen["record1"] = record.record_training(
            settings, RUNS[1], dag_id="dropout_training", airflow_run_id=RUNS[1], drift=drift
        )
        seen["after_record1"] = _aliases(c, name)
        approval.record_approval(settings, RUNS[1], 1, decisions.REJECT, "manager", "")
        seen["promote1_rejected"] = aliases.promote_champion(settings, RUNS[1])
        seen["after_reject"] = _aliases(c, name)
        approval.record_approval(settings, RUNS[1], 1, decisions.APPROVE, "manager", "")
        with pytest.raises(connection.TrackingError) as not_pushed:
            aliases.promote_champion(settings, RUNS[1])
        seen["not_pushed_error"] = str(not_pushed.value)
        seen["after_not_pushed"] = _aliases(c, name)
        _run_pusher(settings, 1, RUNS[1])
        seen["promote1"] = aliases.promote_champion(settings, RUNS[1])
        seen["after_promote1"] = _aliases(c, name)
        # Span 1 again, weekly: the steward rejects the batch, so only the data checks ran.
        records.record_start(settings, RUNS["rejected"], 1, "weekly", "scheduled", "config/default.toml")
        _run_data_checks(settings, 1, RUNS["rejected"])
        data_review.record_data_decision(settings, RUNS["rejected"], 1, decisions.REJECT_BATCH, "steward", "")
        seen["record_rejected"] = record.record_training(
            settings, RUNS["rejected"], dag_id="dropout_training", airflow_run_id=RUNS["rejected"]
        )
        seen["after_rejected"] = _aliases(c, name)
    return {"root": root, "settings": settings, "client": c, "seen": seen, "drift": drift}


def _run(world, span: int):
    return world["client"].get_run(world["seen"][f"record{span}"]["mlflow_run_id"])


def _outputs(world, span: int):
    from dropout.pipeline import outputs

    s = world["settings"].pipeline
    return outputs.run_outputs(s.metadata_path, s.name, RUNS[span])


# --- Plain functions (no server) -----------------------------------------------------------------------


def test_curves_and_calibration_from_tfma_plot_data():
    matrices = [  # TFMA leaves zero counts out
        {"threshold": 0.9, "truePositives": 2, "falsePositives": 0, "trueNegatives": 6, "falseNegatives": 2},
        {"threshold": 0.1, "truePositives": 4, "falsePositives": 3, "trueNegatives": 3},
        {"threshold": 1.0, "trueNegatives": 6, "falseNegatives": 4},
    ]
    c = plots.curves(matrices)
    assert c["tpr"] == [1.0, 0.5, 0.0] and c["fpr"] == [0.5, 0.0, 0.0]
    assert c["recall"] == [1.0, 0.5] and c["precision"] == [4 / 7, 1.0]  # undefined precision left out
    cal = plots.calibration(
        [
            {
                "numWeightedExamples": {"value": 4},
                "totalWeightedLabel": {"value": 1},
                "totalWeightedRefinedPrediction": {"value": 0.8},
            },
            {"numWeightedExamples": 0.0},
            {"numWeightedExamples": 2.0, "totalWeightedRefinedPrediction": 1.8},
        ]
    )
    assert cal == {"predicted": [0.2, 0.9], "observed": [0.25, 0.0], "examples": [4.0, 2.0]}


def test_metric_names_are_mlflow_safe():
    assert (
        record.metric_name("eval_slice", "course_id", "C-PY101 (β)", "auc")
        == "eval_slice/course_id/C-PY101 _β_/auc"
    )


def test_push_to_serving_takes_a_new_highest_version(tmp_path):
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    base = tmp_path / "serving" / "m"
    (base / "99999999999").mkdir(parents=True)  # a version number from the future
    target = aliases.push_to_serving(model, base)
    assert target == base / "100000000000"
    assert (target / "saved_model.pb").read_bytes() == b"graph"
    assert sorted(p.name for p in base.iterdir()) == [
        "100000000000",
        "99999999999",
    ]  # nothing half-copied left


# --- Server down, basic auth ------------------------------------------------------------------------


def test_server_down_fails_clearly_and_records_nothing(server, tmp_path):
    closed = f"http://127.0.0.1:{_free_port()}"
    settings = _settings(tmp_path, closed, "down")
    with pytest.raises(connection.TrackingError) as err:
        record.record_training(settings, "never-recorded")
    assert (
        closed in str(err.value)
        and "not reachable" in str(err.value)
        and "nothing was recorded" in str(err.value)
    )
    # The CLI exits non-zero with the same message (what an Airflow task shows).
    env = {**os.environ, "DROPOUT__TRACKING__URI": closed, "DROPOUT__TRACKING__HTTP_RETRIES": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "dropout.registry", "ping"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and closed in proc.stderr and "not reachable" in proc.stderr
    live = connection.client(dataclasses.replace(settings.tracking, uri=server))
    assert live.get_experiment_by_name(settings.tracking.experiment) is None


def test_basic_auth_rejects_anonymous_clients(auth_server, monkeypatch):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    url, password = auth_server
    search = f"{url}/api/2.0/mlflow/experiments/search?max_results=5"
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(search, timeout=30)
    assert anonymous.value.code == 401
    wrong = urllib.request.Request(
        search, headers={"Authorization": "Basic " + base64.b64encode(b"admin:wrong").decode()}
    )
    with pytest.raises(urllib.error.HTTPError) as bad_password:
        urllib.request.urlopen(wrong, timeout=30)
    assert bad_password.value.code == 401
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    with pytest.raises(MlflowException):
        MlflowClient(url).create_experiment("anonymous-write")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    exp_id = MlflowClient(url).create_experiment(f"authorised-{uuid.uuid4().hex[:6]}")
    assert MlflowClient(url).get_experiment(exp_id).lifecycle_stage == "active"
    assert MlflowClient(url).get_experiment_by_name("anonymous-write") is None


# --- The pipeline, recorded -------------------------------------------------------------------------


@pytest.mark.e2e
def test_training_run_params_metrics_and_tags(world):
    run = _run(world, 0)
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    out = _outputs(world, 0)
    assert run.info.status == "FINISHED" and tags[connection.COMPLETE_TAG] == "true"
    # Why, where from, which code.
    assert tags["dropout.reason"] == "weekly"
    assert tags["airflow.dag_id"] == "dropout_training" and tags["airflow.run_id"] == RUNS[0]
    assert tags[connection.TFX_RUN_TAG] == RUNS[0]
    assert tags["mlmd.execution.Trainer"] == str(out.executions["Trainer"][0])
    assert tags["mlmd.execution.Evaluator"] == str(out.executions["Evaluator"][0])
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    assert tags["code.git_sha"] == sha == tags["mlflow.source.git.commit"]
    # Data: span and counts that reconcile with the ingestion report.
    counts = json.loads((Path(out.uri("LearnerExampleGen", "report")) / "counts.json").read_text())
    assert params["span"] == "0"
    assert (
        metrics["data/accepted"] == counts["accepted"]
        and metrics["data/quarantined"] == counts["quarantined"]
    )
    assert metrics["data/accepted"] + metrics["data/quarantined"] == metrics["data/input_records"]
    assert counts["quarantined"] > 0
    assert sum(v for k, v in metrics.items() if k.startswith("data/quarantined/")) == counts["quarantined"]
    # Config, hyper-parameters, strategy, schema version.
    assert params["model.epochs"] == str(EPOCHS) and params["model.lstm_units"] == "8"
    assert params["evaluation.threshold"] == "0.8" and params["data.window_days"] == "10"
    assert params["strategy.class"] and params["strategy.replicas"] == "1", params
    assert len(params["schema.version"]) == 12
    assert not any(k.startswith("tracking.") for k in params)
    assert "tracking-test-key" not in json.dumps(params)  # the pseudonymisation key is never a parameter


@pytest.mark.e2e
def test_training_curves_evaluation_slices_fairness_and_blessing(world):
    run = _run(world, 0)
    metrics = run.data.metrics
    c = world["client"]
    history = c.get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in history] == list(range(len(history))) and 1 <= len(history) <= EPOCHS
    assert len(c.get_metric_history(run.info.run_id, "train/val_auc")) == len(history)
    fairness = json.loads(
        (Path(_outputs(world, 0).uri("FairnessGate", "blessing")) / "fairness.json").read_text()
    )
    overall = next(r["metrics"] for r in fairness["slices"] if not r["slice"])
    assert metrics["eval/auc"] == pytest.approx(overall["auc"]) and 0.0 <= metrics["eval/auc"] <= 1.0
    assert metrics["eval/example_count"] == overall["example_count"]
    genders = [r for r in fairness["slices"] if list(r["slice"]) == ["gender"]]
    assert len(genders) >= 2
    for row in genders:
        value = row["slice"]["gender"]
        assert metrics[f"eval_slice/gender/{value}/example_count"] == row["metrics"]["example_count"]
    assert (
        sum(metrics[f"eval_slice/gender/{r['slice']['gender']}/example_count"] for r in genders)
        == overall["example_count"]
    )
    assert any(k.startswith("eval_slice/course_id/") for k in metrics)
    assert metrics["fairness/recall_gap"] == pytest.approx(fairness["fairness"]["gap"])
    assert metrics["decision/blessed"] == 1.0 and run.data.tags["dropout.blessed"] == "true"
    assert metrics["decision/approved"] == 1.0 and metrics["decision/pushed"] == 1.0
    assert run.data.tags["approval.decision"] == "Approve" and run.data.tags["approval.by"] == "manager"


@pytest.mark.e2e
def test_artifacts_images_reports_and_model(world, tmp_path):
    import mlflow

    run_id = world["seen"]["record0"]["mlflow_run_id"]
    c = world["client"]
    top = {a.path for a in c.list_artifacts(run_id)}
    assert {"data", "schema", "validation", "evaluation", "training", "reviews", "serving_model"} <= top, top
    plots = mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path="evaluation/plots",
        dst_path=str(tmp_path),
        tracking_uri=world["settings"].tracking.uri,
    )
    for name in ("roc.png", "precision_recall.png", "calibration.png"):
        data = (Path(plots) / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, name
    tfma_files = {Path(a.path).name for a in c.list_artifacts(run_id, "evaluation/tfma")}
    assert "eval_config.json" in tfma_files, tfma_files
    assert {name.split("-")[0] for name in tfma_files if name.endswith(".tfrecord")} >= {"metrics", "plots"}
    reviews = {Path(a.path).name for a in c.list_artifacts(run_id, "reviews")}
    assert {"run.json"} <= reviews
    anomalies = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path="validation/anomalies.json",
                dst_path=str(tmp_path / "a"),
                tracking_uri=world["settings"].tracking.uri,
            )
        ).read_text()
    )
    assert (
        set(anomalies) == {"schema", "drift", "drift_trigger"} and anomalies["drift"] == []
    )  # span 0: no baseline
    serving = {Path(a.path).name for a in c.list_artifacts(run_id, "serving_model")}
    assert "saved_model.pb" in serving
    version = c.get_model_version(world["settings"].tracking.registered_model, "1")
    assert version.run_id == run_id and version.tags[connection.TFX_RUN_TAG] == RUNS[0]
    # The registered version is the pushed model: loaded through MLflow it scores as the SavedModel does.
    import numpy as np
    import tensorflow as tf

    from dropout.warning.examples import serving_examples

    columns, _ = serving_examples(world["root"] / "data", b"tracking-test-key", 10)
    loaded = mlflow.pyfunc.load_model(f"models:/{world['settings'].tracking.registered_model}/1")
    via_mlflow = loaded.predict({k: v[:20] for k, v in columns.items()})
    pushed = _outputs(world, 0).properties("Pusher", "pushed_model")["pushed_destination"]
    signature = tf.saved_model.load(pushed).signatures["raw_features"]
    inputs = signature.structured_input_signature[1]
    direct = (
        signature(
            **{
                k: tf.constant(
                    np.asarray(columns[k][:20]).astype(bytes) if s.dtype == tf.string else columns[k][:20],
                    s.dtype,
                )
                for k, s in inputs.items()
            }
        )["risk"]
        .numpy()
        .reshape(-1)
    )
    assert via_mlflow.shape == (20,) and np.allclose(via_mlflow, direct, atol=1e-6)


@pytest.mark.e2e
def test_drift_triggered_retrain_records_reason_and_drift_figures(world):
    run = _run(world, 1)
    metrics, tags = run.data.metrics, run.data.tags
    assert tags["dropout.reason"] == "drift"
    assert tags["dropout.drift_features"] == "logins,mean_dwell_seconds"
    assert metrics["drift_trigger/max_js"] == pytest.approx(0.31)
    assert metrics["validation/drift_anomalies"] >= 1  # app 3.0 changes dwell times and logins from span 1
    assert any(k.startswith("drift/train_train/") for k in metrics), sorted(metrics)


@pytest.mark.e2e
def test_second_retrain_moves_champion_only_after_approval_and_push(world):
    seen, name, c = world["seen"], world["settings"].tracking.registered_model, world["client"]
    assert seen["record0"]["model_version"] == "1" and seen["promote0"]["champion"] is True
    assert seen["record1"]["model_version"] == "2" and seen["record1"]["challenger"] is True
    assert seen["after_record1"] == {"champion": "1", "challenger": "2"}
    assert seen["promote1_rejected"]["champion"] is False and "Reject" in seen["promote1_rejected"]["reason"]
    assert seen["after_reject"] == {"champion": "1", "challenger": None}
    assert "pushed nothing" in seen["not_pushed_error"] and seen["after_not_pushed"]["champion"] == "1"
    assert seen["promote1"]["champion"] is True and seen["promote1"]["previous_champion"] == "1"
    assert seen["after_promote1"]["champion"] == "2"
    versions = sorted(int(v.version) for v in c.search_model_versions(f"name = '{name}'"))
    assert versions == [1, 2]  # the previous champion stays registered
    assert aliases.PROMOTED_TAG in c.get_model_version(name, "1").tags


@pytest.mark.e2e
def test_recording_again_is_a_no_op(world):
    again = record.record_training(world["settings"], RUNS[0])
    assert (
        again["already_recorded"] is True
        and again["mlflow_run_id"] == world["seen"]["record0"]["mlflow_run_id"]
    )
    exp = world["client"].get_experiment_by_name(world["settings"].tracking.experiment)
    assert len(connection.find_runs(world["client"], exp.experiment_id, RUNS[0])) == 1


@pytest.mark.e2e
def test_failure_midway_leaves_no_half_recorded_run(world):
    from mlflow.entities import ViewType

    settings = dataclasses.replace(
        world["settings"],
        tracking=dataclasses.replace(
            world["settings"].tracking, experiment=world["settings"].tracking.experiment + "-broken"
        ),
    )
    graph_file = Path(_outputs(world, 0).uri("Trainer", "model")) / "Format-Serving" / "saved_model.pb"
    moved = graph_file.with_suffix(".moved")
    graph_file.rename(moved)  # the model goes missing after metrics and reports were written
    try:
        with pytest.raises(connection.TrackingError) as err:
            record.record_training(settings, RUNS[0])
    finally:
        moved.rename(graph_file)
    assert "the partial run was deleted" in str(err.value) and RUNS[0] in str(err.value)
    c = world["client"]
    exp = c.get_experiment_by_name(settings.tracking.experiment)
    assert c.search_runs([exp.experiment_id]) == []
    deleted = c.search_runs([exp.experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert len(deleted) == 1 and deleted[0].data.tags[connection.COMPLETE_TAG] == "false"
    assert deleted[0].data.metrics["data/accepted"] > 0  # it had got that far


@pytest.mark.e2e
def test_rollback_moves_champion_and_repushes_the_earlier_model(world):
    settings, c = world["settings"], world["client"]
    name = settings.tracking.registered_model
    base = Path(settings.pipeline.serving_root) / settings.pipeline.model_name
    first_push = Path(_outputs(world, 0).properties("Pusher", "pushed_model")["pushed_destination"])
    before = {p.name for p in base.iterdir()}
    result = aliases.rollback(settings)
    assert result["champion"] == "1" and result["previous_champion"] == "2"
    assert aliases.alias_version(c, name, "champion") == "1"
    destination = Path(result["pushed_destination"])
    assert destination.parent == base and destination.name not in before
    assert int(destination.name) == max(int(p.name) for p in base.iterdir() if p.name.isdigit())
    assert (destination / "saved_model.pb").read_bytes() == (first_push / "saved_model.pb").read_bytes()
    assert c.get_model_version(name, "1").tags["rollback.from_version"] == "2"
    assert sorted(int(v.version) for v in c.search_model_versions(f"name = '{name}'")) == [1, 2]
    with pytest.raises(connection.TrackingError, match="ever champion"):
        aliases.rollback(settings)  # nothing before version 1


@pytest.mark.e2e
def test_drift_monitor_decision_not_to_retrain_is_recorded(world):
    result = {
        "span": 2,
        "baseline_span": 1,
        "drift": False,
        "features": [],
        "reason": "no feature beyond its drift threshold; champion AUC within 0.05 of promotion",
    }
    recorded = record.record_monitor_decision(world["settings"], result, airflow_run_id="scheduled__x")
    run = world["client"].get_run(recorded["mlflow_run_id"])
    assert run.data.tags[connection.KIND_TAG] == "drift_check" and run.data.tags["dropout.retrain"] == "false"
    assert (
        run.data.tags["dropout.reason"] == result["reason"]
        and run.data.tags[connection.COMPLETE_TAG] == "true"
    )
    assert run.data.params["span"] == "2" and run.data.metrics["decision/retrain"] == 0.0


@pytest.mark.e2e
def test_rejected_batch_is_recorded_without_a_model(world):
    seen, c = world["seen"], world["client"]
    recorded = seen["record_rejected"]
    assert recorded["blessed"] is False and recorded["model_version"] is None
    run = c.get_run(recorded["mlflow_run_id"])
    tags, metrics = run.data.tags, run.data.metrics
    assert run.info.status == "FINISHED" and tags[connection.COMPLETE_TAG] == "true"
    assert tags[connection.KIND_TAG] == "training" and tags[connection.TFX_RUN_TAG] == RUNS["rejected"]
    assert tags["dropout.reason"] == "weekly" and tags["dropout.data_decision"] == "Reject batch"
    assert tags["dropout.data_decision_by"] == "steward" and "batch rejected" in run.info.run_name
    assert metrics["decision/data_accepted"] == 0.0 and metrics["decision/blessed"] == 0.0
    assert metrics["data/accepted"] > 0 and "validation/drift_anomalies" in metrics
    assert not any(k.startswith(("eval/", "train/")) for k in metrics), sorted(metrics)
    artifacts = {a.path for a in c.list_artifacts(run.info.run_id, "reviews")}
    assert "reviews/data_decision.json" in artifacts
    assert c.list_artifacts(run.info.run_id, "model") == []  # nothing logged, nothing registered
    assert seen["after_rejected"] == seen["after_promote1"]  # aliases untouched
    # An accepted run records the decision too.
    assert _run(world, 0).data.metrics["decision/data_accepted"] == 1.0
