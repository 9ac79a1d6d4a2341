"""Read what a pipeline run produced: artifacts per node from ML Metadata, anomalies, metrics, pushes.

Used by the demo's summary, the tests and (later) the Airflow review tasks; plain functions over MLMD.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import anomalies_pb2


@dataclass
class RunOutputs:
    run_id: str
    # node id -> output key -> list of (uri, custom properties)
    artifacts: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    executions: dict[str, list[int]] = field(default_factory=dict)

    def uri(self, node_id: str, key: str) -> str:
        items = self.artifacts.get(node_id, {}).get(key, [])
        if len(items) != 1:
            raise LookupError(
                f"run {self.run_id}: expected one '{key}' output of {node_id}, found {len(items)}"
            )
        return items[0]["uri"]

    def properties(self, node_id: str, key: str) -> dict[str, Any]:
        items = self.artifacts.get(node_id, {}).get(key, [])
        if len(items) != 1:
            raise LookupError(
                f"run {self.run_id}: expected one '{key}' output of {node_id}, found {len(items)}"
            )
        return items[0]["properties"]


def _value(v: metadata_store_pb2.Value) -> Any:  # type: ignore[name-defined]  # generated protobuf
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()  # type: ignore[attr-defined]
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY  # type: ignore[attr-defined]
    return metadata_store.MetadataStore(config)


def run_outputs(metadata_path: str, pipeline_name: str, run_id: str) -> RunOutputs:
    """Output artifacts of every node that executed in pipeline run ``run_id``."""
    store = open_store(metadata_path)
    out = RunOutputs(run_id)
    run_ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
    if run_ctx is None:
        raise LookupError(f"no pipeline run '{run_id}' in {metadata_path}")
    executions = store.get_executions_by_context(run_ctx.id)
    node_of: dict[int, str] = {}
    prefix = f"{pipeline_name}."
    for execution in executions:
        for ctx in store.get_contexts_by_execution(execution.id):
            if ctx.type_id == store.get_context_type("node").id and ctx.name.startswith(prefix):
                node_of[execution.id] = ctx.name[len(prefix) :]
    by_node: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    events = store.get_events_by_execution_ids([e.id for e in executions])
    outputs = [e for e in events if e.type == metadata_store_pb2.Event.OUTPUT]  # type: ignore[attr-defined]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in outputs])}
    for event in outputs:
        node = node_of.get(event.execution_id)
        if node is None:
            continue
        key = event.path.steps[0].key if event.path.steps else ""
        artifact = artifacts[event.artifact_id]
        props = {k: _value(v) for k, v in artifact.custom_properties.items()}
        props.update({k: _value(v) for k, v in artifact.properties.items()})
        by_node[node][key].append({"uri": artifact.uri, "properties": props, "id": artifact.id})
        out.executions.setdefault(node, [])
        if event.execution_id not in out.executions[node]:
            out.executions[node].append(event.execution_id)
    out.artifacts = {n: dict(v) for n, v in by_node.items()}
    for execution in executions:
        node = node_of.get(execution.id)
        if node and node not in out.executions:
            out.executions[node] = [execution.id]
    return out


def read_anomalies(anomalies_uri: str) -> list[dict[str, Any]]:
    """Anomalies of an ExampleAnomalies artifact, one dict per feature anomaly, every split.

    Reads ExampleValidator's ``Split-<split>/`` and DistributionValidator's
    ``SplitPair-<split>_<baseline>/`` layouts (``anomaly_rows`` describes a row).
    """
    rows: list[dict[str, Any]] = []
    for split_dir in sorted(Path(anomalies_uri).glob("Split*-*")):
        path = split_dir / "SchemaDiff.pb"
        if not path.exists():
            continue
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(path.read_bytes())
        rows.extend(anomaly_rows(anomalies, split_dir.name.split("-", 1)[1]))
    return rows


def anomaly_rows(anomalies: anomalies_pb2.Anomalies, split: str) -> list[dict[str, Any]]:
    """One dict per feature anomaly: split, feature, severity, types, short and long descriptions, and
    for drift or skew the measured distances and their thresholds (``measurements``)."""
    rows: list[dict[str, Any]] = []
    drift = {".".join(i.path.step): i for i in anomalies.drift_skew_info}
    infos = sorted(anomalies.anomaly_info.items())
    if anomalies.HasField("dataset_anomaly_info") and anomalies.dataset_anomaly_info.reason:
        infos.append(("(dataset)", anomalies.dataset_anomaly_info))
    for feature, info in infos:
        row: dict[str, Any] = {
            "split": split,
            "feature": feature,
            "severity": anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
            "types": [anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason],
            "short": info.short_description,
            "description": info.description,
        }
        if feature in drift:
            row["measurements"] = [
                {
                    "type": anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(m.type),
                    "value": m.value,
                    "threshold": m.threshold,
                }
                for m in drift[feature].drift_measurements
            ]
        rows.append(row)
    return rows


def read_fairness(blessing_uri: str) -> dict[str, Any]:
    """The fairness gate's report (decision, reason, per-group recall, per-slice metrics)."""
    with open(os.path.join(blessing_uri, "fairness.json")) as fh:
        return json.load(fh)


def overall_metrics(fairness_report: dict[str, Any]) -> dict[str, float]:
    """Metrics of the overall (unsliced) view, from the gate's copy of the TFMA slices."""
    for row in fairness_report["slices"]:
        if not row["slice"]:
            return row["metrics"]
    raise LookupError("no overall slice in the evaluation")
