"""The data steward's review of a training span: the anomaly report, and the decision on the batch.

Schema anomalies (ExampleValidator, the curated schema) and drift against the drift baseline
(DistributionValidator, the latest earlier span not rejected) of one run, as JSON, HTML and the
markdown body of the Airflow review form. The decision is recorded for the run; "Accept and update
schema" writes a reviewed schema version under ``<schema dir>/versions/`` (never replacing the curated
``schema.pbtxt``: promoting it is a reviewed change to the repository); "Reject batch" makes the span
ineligible as a drift baseline (``dropout.pipeline.resolvers``).
"""

from __future__ import annotations

import datetime
import html
import json
from pathlib import Path
from typing import Any

from dropout.contract.decisions import (
    ACCEPT_AND_UPDATE_SCHEMA,
    ACCEPT_ONCE,
    DATA_DECISIONS,
    REJECT_BATCH,
)
from dropout.contract.settings import Settings
from dropout.review import records
from dropout.review.report import anomaly_table, anomaly_table_html, html_page


def _input_artifact(store, execution_id: int, key: str):
    """The artifact an execution read under input ``key`` (None when it had none)."""
    from ml_metadata.proto import metadata_store_pb2

    events = [
        e
        for e in store.get_events_by_execution_ids([execution_id])
        if e.type == metadata_store_pb2.Event.INPUT  # type: ignore[attr-defined]
        and e.path.steps
        and e.path.steps[0].key == key
    ]
    if not events:
        return None
    return store.get_artifacts_by_id([events[0].artifact_id])[0]


def collect_anomalies(settings: Settings, run_id: str) -> dict[str, Any]:
    """Schema anomalies (ExampleValidator) and drift against the baseline span (DistributionValidator)."""
    from dropout.pipeline import outputs

    pipe = settings.pipeline
    run = outputs.run_outputs(pipe.metadata_path, pipe.name, run_id)
    rows: list[dict[str, Any]] = []
    not_run: list[str] = []
    for check, node in (("schema", "ExampleValidator"), ("drift", "DistributionValidator")):
        try:
            uri = run.uri(node, "anomalies")
        except LookupError:
            # The first span has no previous statistics, so DistributionValidator had nothing to compare.
            not_run.append(node)
            continue
        rows.extend({"check": check, **row} for row in outputs.read_anomalies(uri))
    span = run.properties("StatisticsGen", "statistics").get("span")
    baseline_span = None
    executions = run.executions.get("DistributionValidator", [])
    if executions:
        baseline = _input_artifact(
            outputs.open_store(pipe.metadata_path), executions[0], "baseline_statistics"
        )
        if baseline is not None and "span" in baseline.properties:
            baseline_span = baseline.properties["span"].int_value
    return {
        "run_id": run_id,
        "span": span,
        "baseline_span": baseline_span,
        "anomalies": rows,
        "not_run": not_run,
        "statistics": run.uri("StatisticsGen", "statistics"),
        "schema": run.uri("ImportSchemaGen", "schema"),
    }


def anomalies_markdown(report: dict[str, Any], html_path: str) -> str:
    rows = report["anomalies"]
    baseline = report["baseline_span"]
    lines = [
        f"**{len(rows)} anomalies** in span {report['span']} "
        f"(drift measured against span {baseline if baseline is not None else '— none, first span'}).",
        "",
        *anomaly_table(rows),
    ]
    lines += [
        "",
        f"Full report: `{html_path}`",
        "",
        f"*{ACCEPT_AND_UPDATE_SCHEMA}*: train on this span and write a reviewed schema version that "
        f"accepts it (schemas/versions/). *{ACCEPT_ONCE}*: train on it, schema unchanged. "
        f"*{REJECT_BATCH}*: do not train on this span.",
    ]
    return "\n".join(lines)


def anomalies_html(report: dict[str, Any]) -> str:
    baseline = report["baseline_span"]
    intro = (
        f"<p>Run <code>{html.escape(report['run_id'])}</code>. {len(report['anomalies'])} anomalies. "
        f"Drift is measured against span {baseline if baseline is not None else '(none)'}.</p>"
    )
    return html_page(f"Data review: span {report['span']}", intro + anomaly_table_html(report["anomalies"]))


def write_anomaly_report(settings: Settings, run_id: str) -> dict[str, Any]:
    report = collect_anomalies(settings, run_id)
    out = records.review_dir(settings, run_id)
    json_path, html_path = out / "anomalies.json", out / "anomalies.html"
    records.write_json(json_path, report)
    html_path.write_text(anomalies_html(report))
    rows = report["anomalies"]
    return {
        "anomalies": len(rows),
        "schema_anomalies": sum(r["check"] == "schema" for r in rows),
        "drift_anomalies": sum(r["check"] == "drift" for r in rows),
        "span": report["span"],
        "baseline_span": report["baseline_span"],
        "report_json": str(json_path),
        "report_html": str(html_path),
        "body": anomalies_markdown(report, str(html_path)),
    }


def write_schema_version(settings: Settings, run_id: str, span: int, by: str, at: str) -> Path:
    """A reviewed schema that accepts this span: the run's schema relaxed to its statistics (TFDV).

    Written as a new file under ``<schema dir>/versions/`` with who, when and which run in its header;
    the curated ``schema.pbtxt`` is left alone.
    """
    import tensorflow_data_validation as tfdv
    from google.protobuf import text_format

    report = collect_anomalies(settings, run_id)
    schema = tfdv.load_schema_text(str(Path(report["schema"]) / "schema.pbtxt"))
    stats_file = Path(report["statistics"]) / "Split-train" / "FeatureStats.pb"
    updated = tfdv.update_schema(schema, tfdv.load_stats_binary(str(stats_file)))
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    versions = Path(settings.pipeline.schema_dir) / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    path = versions / f"schema-{stamp}-span{span}.pbtxt"
    anomalies = sorted({f"{r['check']}:{r['feature']}" for r in report["anomalies"]})
    header = [
        "# Reviewed schema version (not in use until promoted to schemas/schema.pbtxt by a reviewed change).",
        f"# Accepted by: {by}",
        f"# Accepted at: {at or records.now()}",
        f"# Run: {run_id}  span: {span}  window_days: {settings.data.window_days}",
        f"# Relaxed to the statistics of span {span} for anomalies: {', '.join(anomalies) or '(none)'}",
    ]
    path.write_text("\n".join(header) + "\n" + text_format.MessageToString(updated))
    return path


def record_data_decision(settings: Settings, run_id: str, span: int, decision: str, by: str, at: str) -> dict:
    """Record the steward's decision; a rejected span also gets a rejection record (no drift baseline)."""
    from dropout.pipeline.resolvers import rejection_record

    if decision not in DATA_DECISIONS:
        raise ValueError(f"decision {decision!r} is not one of {DATA_DECISIONS}")
    record: dict[str, Any] = {
        "run_id": run_id,
        "span": span,
        "decision": decision,
        "by": by,
        "at": at or records.now(),
        "recorded_at": records.now(),
        "proceed": decision != REJECT_BATCH,
    }
    if decision == ACCEPT_AND_UPDATE_SCHEMA:
        record["schema_version"] = str(write_schema_version(settings, run_id, span, by, at))
    # The drift-baseline resolver reads the rejection records: a rejected span is never a baseline; a
    # later run of the same span that a steward accepts lifts that.
    rejection = rejection_record(settings.pipeline.root, span)
    if decision == REJECT_BATCH:
        rejection.parent.mkdir(parents=True, exist_ok=True)
        record["rejected_record"] = str(rejection)
        records.write_json(rejection, record)
    elif rejection.exists():
        record["lifted_rejection"] = json.loads(rejection.read_text())
        rejection.unlink()
    path = records.review_dir(settings, run_id) / records.DATA_DECISION
    records.write_json(path, record)
    return {**record, "record": str(path)}
