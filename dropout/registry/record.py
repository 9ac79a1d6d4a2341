"""MLflow records of every retrain: one MLflow run per TFX pipeline run (= Airflow DAG run).

``collect_training`` reads what a pipeline run produced (ML Metadata, the ingestion report, the
Trainer's ``history.json``, the FairnessGate's report, the review records) into a plain
``TrainingRecord``; ``record_training`` writes it to the tracking server as one run in the model's
experiment, logs and registers the model and gives a blessed candidate the alias ``challenger``.
Promotion to ``champion`` and rollback live in ``dropout.registry.aliases``.

Never half-recorded: a run is tagged ``complete=true`` as its last step; when anything fails on the
way, the partial run (and a model version it registered) is deleted and ``TrackingError`` says what
failed. An unreachable server fails fast after ``tracking.http_retries`` retries, before anything is
written (``dropout.registry.connection``).

``record_monitor_decision`` records a drift-monitor check the same way (a small run, no model).
The CLI is ``python -m dropout.registry``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dropout.contract.settings import Settings, TrackingSettings
from dropout.registry import aliases
from dropout.registry.connection import (
    COMPLETE_TAG,
    KIND_TAG,
    TFX_RUN_TAG,
    VERSION_TAG,
    TrackingError,
    check_server,
    client,
    configure,
    experiment_id,
    find_runs,
)
from dropout.review import records

REPO = Path(__file__).resolve().parents[2]

log = logging.getLogger(__name__)


# --- What a pipeline run produced ---------------------------------------------------------------------


@dataclass
class TrainingRecord:
    """Everything one MLflow run of a retrain holds, collected from the pipeline run's outputs."""

    tfx_run_id: str
    span: int | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)  # per-epoch, step = epoch
    tags: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # artifact dir -> local file or directory
    blessed: bool = False
    evaluation_uri: str | None = None
    serving_model_dir: str | None = None


def metric_name(*parts: Any) -> str:
    """An MLflow-safe metric name: parts joined by '/', characters MLflow rejects replaced by '_'."""
    return "/".join(re.sub(r"[^\w.\- ]", "_", str(p)) for p in parts)


def _flatten(prefix: str, values: dict[str, Any]) -> dict[str, str]:
    return {f"{prefix}.{k}": str(v) for k, v in values.items()}


def code_version() -> dict[str, str]:
    """Git sha of the code that recorded the run and whether the checkout had local changes."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
        return out.stdout.strip() if out.returncode == 0 else ""

    sha = git("rev-parse", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {"mlflow.source.git.commit": sha, "code.git_sha": sha, "code.git_dirty": str(dirty).lower()}


def settings_params(settings: Settings) -> dict[str, str]:
    """Pipeline config and model hyper-parameters as MLflow params (no tracking or secret settings)."""
    params: dict[str, str] = {}
    for section in ("data", "ingestion", "model", "evaluation", "pipeline"):
        params.update(_flatten(section, dataclasses.asdict(getattr(settings, section))))
    return params


def collect_training(
    settings: Settings,
    tfx_run_id: str,
    *,
    reason: str = "manual",
    dag_id: str = "",
    airflow_run_id: str = "",
    drift: dict[str, Any] | None = None,
) -> TrainingRecord:
    """Read a pipeline run's outputs into a ``TrainingRecord`` (no MLflow calls).

    Raises:
        LookupError: when the run is not in ML Metadata or a node that every run has did not finish.
    """
    from dropout.pipeline import outputs

    pipe = settings.pipeline
    run = outputs.run_outputs(pipe.metadata_path, pipe.name, tfx_run_id)
    reviews = records.read_records(settings, tfx_run_id)
    reason = reviews.get(records.RUN, {}).get("reason", reason)
    counts = json.loads((Path(run.uri("LearnerExampleGen", "report")) / "counts.json").read_text())
    span = counts.get("span", run.properties("LearnerExampleGen", "examples").get("span"))
    record = TrainingRecord(tfx_run_id=tfx_run_id, span=span)

    # Why, where from, which code.
    record.tags.update(
        {
            KIND_TAG: "training",
            "dropout.reason": reason,
            TFX_RUN_TAG: tfx_run_id,
            "airflow.dag_id": dag_id,
            "airflow.run_id": airflow_run_id or tfx_run_id,
            **code_version(),
        }
    )
    for node, ids in run.executions.items():
        record.tags[f"mlmd.execution.{node}"] = ",".join(map(str, ids))

    # Data: span, row counts, quarantine reasons, examples per split.
    record.params.update(settings_params(settings))
    record.params["span"] = str(span)
    for key in ("input_records", "accepted", "quarantined"):
        record.metrics[metric_name("data", key)] = float(counts[key])
    for reason_name, n in counts.get("by_reason", {}).items():
        record.metrics[metric_name("data", "quarantined", reason_name)] = float(n)
    for split, n in counts.get("examples_per_split", {}).items():
        record.metrics[metric_name("data", "examples", split)] = float(n)
    record.files["data"] = str(Path(run.uri("LearnerExampleGen", "report")) / "counts.json")

    # Schema version, anomalies and drift.
    schema_file = Path(run.uri("ImportSchemaGen", "schema")) / "schema.pbtxt"
    record.params["schema.version"] = hashlib.sha256(schema_file.read_bytes()).hexdigest()[:12]
    reviewed = reviews.get(records.DATA_DECISION, {}).get("schema_version")
    if reviewed:
        record.params["schema.reviewed_version"] = Path(reviewed).name
    record.files["schema"] = str(schema_file)
    anomalies: dict[str, Any] = {"schema": [], "drift": [], "drift_trigger": drift or {}}
    for check, node in (("schema", "ExampleValidator"), ("drift", "DistributionValidator")):
        try:
            anomalies[check] = outputs.read_anomalies(run.uri(node, "anomalies"))
        except LookupError:
            anomalies[check] = []  # the first span has no drift baseline
    record.metrics["validation/schema_anomalies"] = float(len(anomalies["schema"]))
    record.metrics["validation/drift_anomalies"] = float(len(anomalies["drift"]))
    for row in anomalies["drift"]:
        for m in row.get("measurements", []):
            record.metrics[metric_name("drift", row["split"], row["feature"], m["type"])] = float(m["value"])
    for key, value in (drift or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            record.metrics[metric_name("drift_trigger", key)] = float(value)
    record.tags["dropout.drift_features"] = ",".join((drift or {}).get("features", []))[:5000]
    record.files["validation/anomalies.json"] = json.dumps(anomalies, indent=2, default=str)
    for name, payload in reviews.items():
        record.files[f"reviews/{name}"] = json.dumps(payload, indent=2, default=str)

    # The steward's decision. A rejected batch ends here: nothing downstream ran, nothing to register.
    data_decision = reviews.get(records.DATA_DECISION, {})
    record.tags["dropout.data_decision"] = data_decision.get("decision", "none recorded")
    if data_decision:
        record.tags["dropout.data_decision_by"] = str(data_decision.get("by", ""))
    accepted = data_decision.get("proceed", True)
    record.metrics["decision/data_accepted"] = float(bool(accepted))
    if not accepted:
        record.tags.update(
            {
                "dropout.blessed": "false",
                "dropout.blessing_reason": "not trained: the steward rejected the batch",
            }
        )
        record.metrics["decision/blessed"] = 0.0
        return record

    # Training: strategy, class weights, per-epoch curves.
    model_run = Path(run.uri("Trainer", "model_run"))
    history = json.loads((model_run / "history.json").read_text())
    strategy = history.get("strategy", {})
    record.params.update(_flatten("strategy", strategy))
    record.params.update(_flatten("class_weight", history.get("class_weights", {})))
    record.curves = {metric_name("train", k): [float(v) for v in vs] for k, vs in history["history"].items()}
    record.metrics["train/epochs"] = float(max((len(v) for v in record.curves.values()), default=0))
    record.files["training"] = str(model_run / "history.json")
    record.serving_model_dir = str(Path(run.uri("Trainer", "model")) / "Format-Serving")

    # Evaluation overall and per slice, fairness gaps, blessing.
    fairness = outputs.read_fairness(run.uri("FairnessGate", "blessing"))
    for row in fairness["slices"]:
        for name, value in row["metrics"].items():
            if not row["slice"]:
                record.metrics[metric_name("eval", name)] = float(value)
            else:
                columns, values = "+".join(row["slice"]), "+".join(map(str, row["slice"].values()))
                record.metrics[metric_name("eval_slice", columns, values, name)] = float(value)
    gap = fairness["fairness"]
    record.metrics["fairness/recall_gap"] = float(gap["gap"])
    record.metrics["fairness/max_recall_gap"] = float(fairness["max_gap"])
    for group, value in gap["groups"].items():
        record.metrics[metric_name("fairness", gap["metric"], gap["attribute"], group)] = float(value)
    record.blessed = bool(fairness["blessed"])
    record.metrics["decision/evaluator_blessed"] = float(bool(fairness["evaluator_blessed"]))
    record.metrics["decision/blessed"] = float(record.blessed)
    record.tags.update(
        {"dropout.blessed": str(record.blessed).lower(), "dropout.blessing_reason": fairness["reason"][:5000]}
    )
    record.evaluation_uri = run.uri("Evaluator", "evaluation")
    record.files["evaluation/tfma"] = record.evaluation_uri
    record.files["evaluation"] = str(Path(run.uri("FairnessGate", "blessing")) / "fairness.json")
    return record


# --- Writing a run, never half ------------------------------------------------------------------------


def _abandon(mlflow_client, run_id: str, created_version: tuple[str, str] | None) -> str:
    """Delete a partial run (and a model version it registered); say what could not be cleaned up."""
    problems = []
    if created_version is not None:
        try:
            mlflow_client.delete_model_version(*created_version)
        except Exception as exc:  # noqa: BLE001 - reported in the error message
            problems.append(f"model version {created_version[1]} not deleted ({exc})")
    try:
        mlflow_client.set_terminated(run_id, "FAILED")
        mlflow_client.delete_run(run_id)
    except Exception as exc:  # noqa: BLE001 - reported in the error message
        problems.append(f"run not deleted ({exc}); it lacks the tag {COMPLETE_TAG}=true, so readers skip it")
    return "; ".join(problems) or "the partial run was deleted"


def _log_files(mlflow_client, run_id: str, files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="mlflow-") as tmp:
        for target, source in files.items():
            path = Path(source) if len(source) < 4096 and "\n" not in source else None
            if path is not None and path.is_dir():
                mlflow_client.log_artifacts(run_id, str(path), target)
            elif path is not None and path.is_file():
                mlflow_client.log_artifact(run_id, str(path), target)
            else:  # inline content: written to a file named by the target's last part
                folder, _, name = target.rpartition("/")
                local = Path(tmp) / name
                local.write_text(source)
                mlflow_client.log_artifact(run_id, str(local), folder or None)


def _log_values(mlflow_client, run_id: str, record: TrainingRecord) -> None:
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    params = [Param(k, v[:6000]) for k, v in sorted(record.params.items())]
    metrics = [Metric(k, v, now, 0) for k, v in sorted(record.metrics.items())]
    metrics += [
        Metric(k, v, now, step) for k, vs in sorted(record.curves.items()) for step, v in enumerate(vs)
    ]
    tags = [RunTag(k, v) for k, v in sorted(record.tags.items())]
    for i in range(0, max(len(params), 1), 100):
        mlflow_client.log_batch(run_id, params=params[i : i + 100])
    for i in range(0, len(metrics), 900):
        mlflow_client.log_batch(run_id, metrics=metrics[i : i + 900])
    mlflow_client.log_batch(run_id, tags=tags)


def record_training(
    settings: Settings,
    tfx_run_id: str,
    *,
    reason: str = "manual",
    dag_id: str = "",
    airflow_run_id: str = "",
    drift: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record one pipeline run as one MLflow run; register a blessed model and alias it ``challenger``.

    A run whose batch the steward rejected is recorded as well (why it ran, data, anomalies, the
    decision; no training, no model). Idempotent for task retries: a complete record of the same TFX
    run is returned as it is; an incomplete one (an earlier attempt that died) is deleted and recorded again.

    Raises:
        TrackingError: the server is unreachable (nothing written) or a write failed (partial run deleted).
    """
    tracking = settings.tracking
    configure(tracking)
    check_server(tracking)
    record = collect_training(
        settings, tfx_run_id, reason=reason, dag_id=dag_id, airflow_run_id=airflow_run_id, drift=drift
    )
    c = client(tracking)
    exp_id = experiment_id(c, tracking.experiment)
    for existing in find_runs(c, exp_id, tfx_run_id):
        if existing.data.tags.get(COMPLETE_TAG) == "true":
            log.info("TFX run %s is already recorded as MLflow run %s", tfx_run_id, existing.info.run_id)
            return _summary(existing.info.run_id, existing.data.tags, tracking, already=True)
        log.warning("deleting the incomplete MLflow run %s of an earlier attempt", existing.info.run_id)
        c.delete_run(existing.info.run_id)

    rejected = " · batch rejected" if record.metrics.get("decision/data_accepted") == 0.0 else ""
    run = c.create_run(
        exp_id,
        run_name=f"span {record.span} · {tfx_run_id}{rejected}",
        tags={KIND_TAG: "training", TFX_RUN_TAG: tfx_run_id, COMPLETE_TAG: "false"},
    )
    run_id = run.info.run_id
    created: tuple[str, str] | None = None
    try:
        _log_values(c, run_id, record)
        if record.evaluation_uri:  # a rejected batch has no evaluation and no model
            with tempfile.TemporaryDirectory(prefix="tracking-plots-") as tmp:
                from dropout.registry import plots as tracking_plots

                images = tracking_plots.write_images(
                    tracking_plots.overall_plots(record.evaluation_uri),
                    Path(tmp),
                    f"span {record.span}",
                    auc=record.metrics.get("eval/auc"),
                    pr_auc=record.metrics.get("eval/pr_auc"),
                )
                for path in images.values():
                    c.log_artifact(run_id, str(path), "evaluation/plots")
        _log_files(c, run_id, record.files)
        version = (
            aliases.log_and_register(
                c,
                settings,
                run_id,
                serving_dir=record.serving_model_dir,
                blessed=record.blessed,
                tfx_run_id=tfx_run_id,
                span=record.span,
                blessing_reason=record.tags.get("dropout.blessing_reason", ""),
            )
            if record.serving_model_dir
            else None
        )
        if version is not None:
            created = (tracking.registered_model, version)
            c.set_tag(run_id, VERSION_TAG, version)
            c.set_registered_model_alias(tracking.registered_model, aliases.CHALLENGER, version)
        c.set_tag(run_id, COMPLETE_TAG, "true")
        c.set_terminated(run_id, "FINISHED")
    except Exception as exc:
        cleanup = _abandon(c, run_id, created)
        raise TrackingError(
            f"recording TFX run {tfx_run_id} in MLflow {tracking.uri} (experiment "
            f"'{tracking.experiment}', run {run_id}) failed: {exc}. Cleanup: {cleanup}. "
            "Retry the task once the server is healthy."
        ) from exc
    return _summary(run_id, {**record.tags, VERSION_TAG: created[1] if created else ""}, tracking)


def _summary(run_id: str, tags: dict[str, str], tracking: TrackingSettings, already: bool = False) -> dict:
    version = tags.get(VERSION_TAG) or None
    return {
        "mlflow_run_id": run_id,
        "experiment": tracking.experiment,
        "tracking_uri": tracking.uri,
        "tfx_run_id": tags.get(TFX_RUN_TAG),
        "blessed": tags.get("dropout.blessed") == "true",
        "model_version": version,
        "challenger": version is not None,
        "already_recorded": already,
    }


def record_monitor_decision(
    settings: Settings,
    result: dict[str, Any],
    *,
    dag_id: str = "dropout_drift_monitor",
    airflow_run_id: str = "",
) -> dict[str, Any]:
    """Record a drift-monitor check as a (small) run of the model's experiment, retrain or not, with why."""
    tracking = settings.tracking
    configure(tracking)
    check_server(tracking)
    c = client(tracking)
    exp_id = experiment_id(c, tracking.experiment)
    retrain = bool(result.get("drift"))
    run = c.create_run(
        exp_id,
        run_name=f"drift check span {result.get('span')}: {'retrain' if retrain else 'no retrain'}",
        tags={KIND_TAG: "drift_check", COMPLETE_TAG: "false"},
    )
    run_id = run.info.run_id
    try:
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        tags = {
            "dropout.retrain": str(retrain).lower(),
            "dropout.reason": str(result.get("reason", ""))[:5000],
            "airflow.dag_id": dag_id,
            "airflow.run_id": airflow_run_id,
            "dropout.drift_features": ",".join(result.get("features") or [])[:5000],
            **code_version(),
        }
        params = {k: str(result.get(k)) for k in ("span", "baseline_span")}
        metrics = {
            "decision/retrain": float(retrain),
            "drift/features": float(len(result.get("features") or [])),
        }
        for key, value in result.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and key not in params:
                metrics[metric_name("monitor", key)] = float(value)
        c.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        _log_files(c, run_id, {"monitor/result.json": json.dumps(result, indent=2, default=str)})
        if result.get("report") and Path(result["report"]).is_file():
            _log_files(c, run_id, {"monitor": result["report"]})
        c.set_tag(run_id, COMPLETE_TAG, "true")
        c.set_terminated(run_id, "FINISHED")
    except Exception as exc:
        cleanup = _abandon(c, run_id, None)
        raise TrackingError(
            f"recording the drift check in MLflow {tracking.uri} failed: {exc}. Cleanup: {cleanup}."
        ) from exc
    return {"mlflow_run_id": run_id, "retrain": retrain, "reason": result.get("reason", "")}
