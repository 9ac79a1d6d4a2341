"""TFX-environment side of the people in the loop: reports they read, records of what they decided.

Airflow cannot import TFX, so its review tasks run this module as a subprocess. Each command prints
one JSON object as its last line (the task's XCom). Everything is written under
``<pipeline root>/reviews/<run id>/``; a reviewed schema version goes to
``<schema dir>/versions/`` and never replaces the curated ``schema.pbtxt`` (promoting it is a
reviewed change to the repository).

CLI::

    python -m tfx_pipeline.review start --run-id ID --span 1 --reason drift [--run-type asset_triggered]
    python -m tfx_pipeline.review anomalies --run-id ID --span 1
    python -m tfx_pipeline.review data-decision --run-id ID --span 1 --decision "Accept once" --by steward
    python -m tfx_pipeline.review candidate --run-id ID --span 1
    python -m tfx_pipeline.review approval-decision --run-id ID --span 1 --decision Approve --by manager
    python -m tfx_pipeline.review drift-check [--span N] [--max-auc-drop 0.05] [--max-f1-drop 0.1]

(``--config`` defaults to config/default.toml.) Heavy imports (ML Metadata, TFDV) happen inside the
commands that need them, so ``start`` and the decision records stay fast.
"""

from __future__ import annotations

import argparse
import datetime
import html
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

from dropout.settings import Settings, load_settings

ACCEPT_AND_UPDATE_SCHEMA = "Accept and update schema"
ACCEPT_ONCE = "Accept once"
REJECT_BATCH = "Reject batch"
NO_ANOMALIES = "No anomalies"
DATA_DECISIONS = (ACCEPT_AND_UPDATE_SCHEMA, ACCEPT_ONCE, REJECT_BATCH, NO_ANOMALIES)
APPROVE, REJECT = "Approve", "Reject"
# What managers compare: overall and per slice.
SUMMARY_METRICS = ("auc", "recall", "f1", "precision_at_top", "precision", "example_count")
BODY_ROWS = 25  # rows of a table shown in the Airflow review form; the HTML report has all


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def review_dir(settings: Settings, run_id: str) -> Path:
    """``<pipeline root>/reviews/<run id with unsafe characters replaced>``, created."""
    path = Path(settings.pipeline.root) / "reviews" / re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def record_start(settings: Settings, run_id: str, span: int, reason: str, run_type: str, config: str) -> dict:
    """Why this run exists (weekly | drift | manual), for the people reading the run later."""
    record = {"run_id": run_id, "span": span, "reason": reason, "run_type": run_type, "config": config,
              "started_at": _now()}
    path = review_dir(settings, run_id) / "run.json"
    _write_json(path, record)
    return {**record, "record": str(path)}


# --- Data steward review ------------------------------------------------------------------------


def _input_artifact(store, execution_id: int, key: str):
    """The artifact an execution read under input ``key`` (None when it had none)."""
    from ml_metadata.proto import metadata_store_pb2

    events = [e for e in store.get_events_by_execution_ids([execution_id])
              if e.type == metadata_store_pb2.Event.INPUT  # type: ignore[attr-defined]
              and e.path.steps and e.path.steps[0].key == key]
    if not events:
        return None
    return store.get_artifacts_by_id([events[0].artifact_id])[0]


def collect_anomalies(settings: Settings, run_id: str) -> dict[str, Any]:
    """Schema anomalies (ExampleValidator) and drift against the previous span (DistributionValidator)."""
    from tfx_pipeline import outputs

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
        baseline = _input_artifact(outputs.open_store(pipe.metadata_path), executions[0], "baseline_statistics")
        if baseline is not None and "span" in baseline.properties:
            baseline_span = baseline.properties["span"].int_value
    return {"run_id": run_id, "span": span, "baseline_span": baseline_span, "anomalies": rows, "not_run": not_run,
            "statistics": run.uri("StatisticsGen", "statistics"), "schema": run.uri("ImportSchemaGen", "schema")}


def measured_vs_threshold(row: dict[str, Any]) -> str:
    return "; ".join(f"{m['type']} {m['value']:.4f} > {m['threshold']:.4f}" for m in row.get("measurements", []))


def anomaly_table(rows: list[dict[str, Any]]) -> list[str]:
    """The markdown table a steward sees in a review form (the first ``BODY_ROWS`` rows, then a count)."""
    lines = ["| check | split | feature | severity | type | description | measured vs threshold |",
             "|---|---|---|---|---|---|---|"]
    for row in rows[:BODY_ROWS]:
        description = row["description"].replace("|", "/").replace("\n", " ")
        lines.append(f"| {row['check']} | {row['split']} | `{row['feature']}` | {row['severity']} | "
                     f"{', '.join(row['types'])} | {description} | {measured_vs_threshold(row)} |")
    if len(rows) > BODY_ROWS:
        lines.append(f"\n… {len(rows) - BODY_ROWS} more in the full report.")
    return lines


def anomalies_markdown(report: dict[str, Any], html_path: str) -> str:
    rows = report["anomalies"]
    baseline = report["baseline_span"]
    lines = [
        f"**{len(rows)} anomalies** in span {report['span']} "
        f"(drift measured against span {baseline if baseline is not None else '— none, first span'}).",
        "",
        *anomaly_table(rows),
    ]
    lines += ["", f"Full report: `{html_path}`", "",
              f"*{ACCEPT_AND_UPDATE_SCHEMA}*: train on this span and write a reviewed schema version that "
              f"accepts it (schemas/versions/). *{ACCEPT_ONCE}*: train on it, schema unchanged. "
              f"*{REJECT_BATCH}*: do not train on this span."]
    return "\n".join(lines)


def anomalies_html(report: dict[str, Any]) -> str:
    head = ("<tr><th>check</th><th>split</th><th>feature</th><th>severity</th><th>type</th>"
            "<th>description</th><th>measured vs threshold</th></tr>")
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            r["check"], r["split"], r["feature"], r["severity"], ", ".join(r["types"]), r["description"],
            measured_vs_threshold(r))) + "</tr>"
        for r in report["anomalies"]
    )
    baseline = report["baseline_span"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Data review: span "
        f"{report['span']}</title><style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>Data review: span {html.escape(str(report['span']))}</h1>"
        f"<p>Run <code>{html.escape(report['run_id'])}</code>. {len(report['anomalies'])} anomalies. "
        f"Drift is measured against span {html.escape(str(baseline)) if baseline is not None else '(none)'}.</p>"
        f"<table>{head}{body}</table></body></html>\n"
    )


def write_anomaly_report(settings: Settings, run_id: str) -> dict[str, Any]:
    report = collect_anomalies(settings, run_id)
    out = review_dir(settings, run_id)
    json_path, html_path = out / "anomalies.json", out / "anomalies.html"
    _write_json(json_path, report)
    html_path.write_text(anomalies_html(report))
    rows = report["anomalies"]
    return {"anomalies": len(rows), "schema_anomalies": sum(r["check"] == "schema" for r in rows),
            "drift_anomalies": sum(r["check"] == "drift" for r in rows), "span": report["span"],
            "baseline_span": report["baseline_span"], "report_json": str(json_path),
            "report_html": str(html_path), "body": anomalies_markdown(report, str(html_path))}


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
        f"# Accepted at: {at or _now()}",
        f"# Run: {run_id}  span: {span}  window_days: {settings.data.window_days}",
        f"# Relaxed to the statistics of span {span} for anomalies: {', '.join(anomalies) or '(none)'}",
    ]
    path.write_text("\n".join(header) + "\n" + text_format.MessageToString(updated))
    return path


def record_data_decision(settings: Settings, run_id: str, span: int, decision: str, by: str, at: str) -> dict:
    """Record the steward's decision; a rejected span also gets a record under ``rejected_spans/``."""
    if decision not in DATA_DECISIONS:
        raise ValueError(f"decision {decision!r} is not one of {DATA_DECISIONS}")
    record: dict[str, Any] = {"run_id": run_id, "span": span, "decision": decision, "by": by,
                              "at": at or _now(), "recorded_at": _now(), "proceed": decision != REJECT_BATCH}
    if decision == ACCEPT_AND_UPDATE_SCHEMA:
        record["schema_version"] = str(write_schema_version(settings, run_id, span, by, at))
    # rejected_spans/ is what the pipeline's drift-baseline resolver reads (tfx_pipeline.resolvers): a
    # rejected span is never a baseline; a later run of the same span that a steward accepts lifts that.
    rejected = Path(settings.pipeline.root) / "rejected_spans"
    if decision == REJECT_BATCH:
        rejected.mkdir(parents=True, exist_ok=True)
        record["rejected_record"] = str(rejected / f"span-{span}.json")
        _write_json(rejected / f"span-{span}.json", record)
    elif (rejected / f"span-{span}.json").exists():
        record["lifted_rejection"] = json.loads((rejected / f"span-{span}.json").read_text())
        (rejected / f"span-{span}.json").unlink()
    path = review_dir(settings, run_id) / "data_decision.json"
    _write_json(path, record)
    return {**record, "record": str(path)}


# --- Manager approval ----------------------------------------------------------------------------


def _slices(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for row in report["slices"]:
        name = ", ".join(f"{k}={v}" for k, v in row["slice"].items()) or "overall"
        rows.append({"slice": name, **{m: row["metrics"].get(m) for m in SUMMARY_METRICS}})
    return sorted(rows, key=lambda r: (r["slice"] != "overall", r["slice"]))


def champion_run(metadata_path: str, pipeline_name: str, exclude_run: str) -> str | None:
    """Run id of the latest run whose Pusher pushed a model (the champion being served), if any."""
    from ml_metadata.proto import metadata_store_pb2

    from tfx_pipeline import outputs

    store = outputs.open_store(metadata_path)
    pushed = [a for a in store.get_artifacts_by_type("PushedModel")
              if a.custom_properties.get("pushed") and a.custom_properties["pushed"].int_value == 1]
    for artifact in sorted(pushed, key=lambda a: a.create_time_since_epoch, reverse=True):
        for event in store.get_events_by_artifact_ids([artifact.id]):
            if event.type != metadata_store_pb2.Event.OUTPUT:  # type: ignore[attr-defined]
                continue
            for ctx in store.get_contexts_by_execution(event.execution_id):
                if ctx.type_id == store.get_context_type("pipeline_run").id and ctx.name != exclude_run:
                    return ctx.name
    return None


def candidate_summary(settings: Settings, run_id: str) -> dict[str, Any]:
    """Candidate (this run) against champion (the last pushed run) from the FairnessGate reports."""
    from tfx_pipeline import outputs

    pipe = settings.pipeline
    run = outputs.run_outputs(pipe.metadata_path, pipe.name, run_id)
    candidate = outputs.read_fairness(run.uri("FairnessGate", "blessing"))
    summary: dict[str, Any] = {
        "run_id": run_id, "blessed": bool(candidate["blessed"]), "reason": candidate["reason"],
        "candidate": {"slices": _slices(candidate), "fairness_gap": candidate["fairness"]["gap"],
                      "fairness": candidate["fairness"]},
        "champion": None,
    }
    champion = champion_run(pipe.metadata_path, pipe.name, run_id)
    if champion is not None:
        report = outputs.read_fairness(
            outputs.run_outputs(pipe.metadata_path, pipe.name, champion).uri("FairnessGate", "blessing"))
        summary["champion"] = {"run_id": champion, "slices": _slices(report),
                               "fairness_gap": report["fairness"]["gap"]}
    return summary


def _fmt(value: Any) -> str:
    return "—" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def candidate_markdown(summary: dict[str, Any], html_path: str) -> str:
    champion = summary["champion"]
    champ_rows = {r["slice"]: r for r in champion["slices"]} if champion else {}
    lines = [f"**{'Blessed' if summary['blessed'] else 'Not blessed'}** by the FairnessGate: {summary['reason']}",
             "",
             f"Champion: {'run `' + champion['run_id'] + '`' if champion else 'none yet (first model)'}. "
             "The champion's figures are from its own evaluation span.",
             "",
             "| slice | metric | candidate | champion |", "|---|---|---|---|"]
    shown = 0
    for row in summary["candidate"]["slices"]:
        for metric in SUMMARY_METRICS:
            if row.get(metric) is None or shown >= BODY_ROWS * 2:
                continue
            lines.append(f"| {row['slice']} | {metric} | {_fmt(row[metric])} | "
                         f"{_fmt(champ_rows.get(row['slice'], {}).get(metric))} |")
            shown += 1
    lines.append(f"| {summary['candidate']['fairness']['attribute']} | recall gap | "
                 f"{_fmt(summary['candidate']['fairness_gap'])} | {_fmt(champion['fairness_gap'] if champion else None)} |")
    lines += ["", f"Full report: `{html_path}`", "",
              f"*{APPROVE}*: Pusher deploys the candidate. *{REJECT}* (also the default when nobody answers "
              "in time): nothing is pushed, the champion keeps serving."]
    return "\n".join(lines)


def write_candidate_summary(settings: Settings, run_id: str) -> dict[str, Any]:
    summary = candidate_summary(settings, run_id)
    out = review_dir(settings, run_id)
    json_path, html_path = out / "candidate.json", out / "candidate.html"
    _write_json(json_path, summary)
    body = candidate_markdown(summary, str(html_path))
    html_path.write_text("<!doctype html><html><head><meta charset='utf-8'><title>Candidate review</title>"
                         "</head><body><pre>" + html.escape(body) + "</pre></body></html>\n")
    return {"blessed": summary["blessed"], "reason": summary["reason"], "report_json": str(json_path),
            "report_html": str(html_path), "body": body}


def record_approval(settings: Settings, run_id: str, span: int, decision: str, by: str, at: str) -> dict:
    if decision not in (APPROVE, REJECT):
        raise ValueError(f"decision {decision!r} is not one of {(APPROVE, REJECT)}")
    record = {"run_id": run_id, "span": span, "decision": decision, "by": by, "at": at or _now(),
              "recorded_at": _now(), "approved": decision == APPROVE}
    path = review_dir(settings, run_id) / "approval.json"
    _write_json(path, record)
    return {**record, "record": str(path)}


# --- Drift monitor -------------------------------------------------------------------------------


def newest_complete_span(settings: Settings) -> int | None:
    """The last span whose every landing day has a directory (None before the first full span)."""
    days = [p.name for p in (Path(settings.data.root) / "landing").iterdir() if p.is_dir()]
    if not days:
        return None
    first = datetime.date.fromisoformat(settings.data.first_day)
    covered = (datetime.date.fromisoformat(max(days)) - first).days + 1
    span = covered // settings.data.window_days - 1
    return span if span >= 0 else None


def champion_baseline(metadata_path: str, pipeline_name: str) -> dict[str, Any] | None:
    """The champion (the latest pushed model) and what it was trained on, or None before the first push.

    Returns:
        ``{"run_id", "span", "statistics" (uri), "model" (pushed directory), "metrics" (overall
        metrics of its evaluation at promotion, from the FairnessGate report)}``.
    """
    from tfx_pipeline import outputs

    if not Path(metadata_path).exists():
        return None
    run_id = champion_run(metadata_path, pipeline_name, exclude_run="")
    if run_id is None:
        return None
    run = outputs.run_outputs(metadata_path, pipeline_name, run_id)
    return {
        "run_id": run_id,
        "span": run.properties("StatisticsGen", "statistics").get("span"),
        "statistics": run.uri("StatisticsGen", "statistics"),
        "model": run.properties("Pusher", "pushed_model")["pushed_destination"],
        "metrics": outputs.overall_metrics(outputs.read_fairness(run.uri("FairnessGate", "blessing"))),
    }


def score_examples(model_dir: str, examples, batch_size: int = 512):
    """Risk scores of the pushed model (its serving signature: serialized tf.Examples) for ``examples``."""
    import numpy as np
    import pyarrow as pa
    import tensorflow as tf
    from tfx_bsl.coders import example_coder

    from dropout.ingest.aggregate import to_list_columns

    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    scores = []
    for batch in examples.to_batches(max_chunksize=batch_size):
        records = example_coder.RecordBatchToExamples(to_list_columns(pa.Table.from_batches([batch])))
        scores.append(serve(examples=tf.constant(records))["risk"].numpy().reshape(-1))
    return np.concatenate(scores) if scores else np.zeros(0)


def concept_drift(labels, risk, threshold: float, at_promotion: dict[str, float], max_auc_drop: float,
                  max_f1_drop: float) -> dict[str, Any]:
    """The champion's AUC and F1 on newly labelled learners against its evaluation at promotion.

    Args:
        labels: 0/1 outcomes of the newly labelled learners.
        risk: the champion's risk scores for them (0..1).
        threshold: operating threshold on risk for F1 (``evaluation.threshold``).
        at_promotion: the champion's overall metrics at promotion (``auc``, ``f1``).
        max_auc_drop / max_f1_drop: drops beyond these are concept drift.

    Returns:
        ``{"measured": bool, "drift": bool, "learners", "positives", "auc", "f1", "auc_at_promotion",
        "f1_at_promotion", "auc_drop", "f1_drop", "reason"}``; not measured (no drift) when the learners
        hold only one class, because AUC is undefined then.
    """
    import numpy as np
    from sklearn.metrics import f1_score, roc_auc_score

    labels, risk = np.asarray(labels).astype(int), np.asarray(risk, dtype=float)
    out: dict[str, Any] = {"learners": int(labels.size), "positives": int(labels.sum()), "measured": False,
                           "drift": False, "max_auc_drop": max_auc_drop, "max_f1_drop": max_f1_drop}
    if labels.size == 0 or labels.min() == labels.max():
        out["reason"] = f"not measured: {labels.size} labelled learners, {int(labels.sum())} of them positive"
        return out
    auc = float(roc_auc_score(labels, risk))
    f1 = float(f1_score(labels, (risk >= threshold).astype(int), zero_division=0))
    auc0, f10 = at_promotion.get("auc"), at_promotion.get("f1")
    auc_drop = None if auc0 is None else auc0 - auc
    f1_drop = None if f10 is None else f10 - f1
    beyond = []
    if auc_drop is not None and auc_drop > max_auc_drop:
        beyond.append(f"AUC {auc:.4f} vs {auc0:.4f} at promotion (drop {auc_drop:.4f} > {max_auc_drop})")
    if f1_drop is not None and f1_drop > max_f1_drop:
        beyond.append(f"F1 {f1:.4f} vs {f10:.4f} at promotion (drop {f1_drop:.4f} > {max_f1_drop})")
    within = (f"AUC {auc:.4f} vs {_fmt(auc0)} at promotion (drop {_fmt(auc_drop)} <= {max_auc_drop}), "
              f"F1 {f1:.4f} vs {_fmt(f10)} (drop {_fmt(f1_drop)} <= {max_f1_drop})")
    out.update(measured=True, drift=bool(beyond), auc=auc, f1=f1, auc_at_promotion=auc0, f1_at_promotion=f10,
               auc_drop=auc_drop, f1_drop=f1_drop, reason="; ".join(beyond) if beyond else within)
    return out


def check_drift(settings: Settings, span: int | None = None, *, max_auc_drop: float = 0.05,
                max_f1_drop: float = 0.1) -> dict[str, Any]:
    """Data and concept drift of the newest span of landing data against the champion.

    Data drift: the span is ingested in serving mode (labels may not exist yet), its TFDV statistics are
    validated against the curated schema with the statistics of the span the champion (the latest
    pushed model) was trained on as baseline: the schema's drift comparators (Jensen-Shannon for
    numeric, L-infinity for categorical features) decide. Concept drift: learners of the span that
    already have an outcome are scored by the champion; its AUC and F1 are compared with its
    evaluation at promotion. Either beyond its thresholds means retrain (``drift`` true); otherwise
    ``reason`` says why no retrain is needed. Written to ``<pipeline root>/drift_monitor/span-N/drift.json``.
    """
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl

    from dropout.ingest import ingest_span
    from dropout.ingest.aggregate import to_list_columns
    from dropout.settings import pseudonym_key
    from tfx_pipeline import outputs
    from tfx_pipeline import schema as schema_lib

    data, pipe = settings.data, settings.pipeline
    span = newest_complete_span(settings) if span is None else span
    champion = champion_baseline(pipe.metadata_path, pipe.name)
    result: dict[str, Any] = {"span": span, "baseline_span": champion["span"] if champion else None,
                              "champion_run": champion["run_id"] if champion else None, "drift": False,
                              "data_drift": False, "concept_drift": False, "features": []}
    if champion is None:
        result["reason"] = "no retrain needed: no champion yet (no model was ever pushed); train one first"
        return result
    if span is None or span <= champion["span"]:
        result["reason"] = f"no retrain needed: no complete span newer than the champion's span {champion['span']}"
        return result
    ingest: dict[str, Any] = dict(first_day=datetime.date.fromisoformat(data.first_day), span=span, window_days=data.window_days,
                  key=pseudonym_key(settings.ingestion), clock_skew_minutes=settings.ingestion.clock_skew_minutes,
                  eval_fraction=settings.ingestion.eval_fraction, label_column=data.label_column)
    examples = ingest_span(f"{data.root}/landing", f"{data.root}/learners.csv", None, mode="serving",
                           **ingest).examples
    stats = stats_impl.generate_statistics_in_memory(to_list_columns(examples), tfdv.StatsOptions())
    previous = tfdv.load_stats_binary(str(Path(champion["statistics"]) / "Split-train" / "FeatureStats.pb"))
    schema = schema_lib.schema_for_window(
        schema_lib.load_schema(Path(pipe.schema_dir) / schema_lib.SCHEMA_FILE), data.window_days)
    anomalies = tfdv.validate_statistics(stats, schema, previous_statistics=previous)
    out = Path(pipe.root) / "drift_monitor" / f"span-{span}"
    (out / "Split-all").mkdir(parents=True, exist_ok=True)
    (out / "Split-all" / "SchemaDiff.pb").write_bytes(anomalies.SerializeToString())
    drift = [r for r in outputs.read_anomalies(str(out))
             if r.get("measurements") or any("COMPARATOR" in t for t in r["types"])]
    comparators = sum(f.HasField("drift_comparator") for f in schema.feature)
    data_reason = (f"data drift in {len(drift)} of {comparators} features: " + "; ".join(
        f"{r['feature']} {measured_vs_threshold(r) or ', '.join(r['types'])}" for r in drift) if drift else
        f"no data drift: none of the {comparators} features with a drift comparator is beyond its threshold")

    outcomes = Path(data.root) / "outcomes.csv"
    if outcomes.exists():
        labelled = ingest_span(f"{data.root}/landing", f"{data.root}/learners.csv", outcomes, mode="training",
                               **ingest).examples
        from dropout.features import LABEL_KEY

        labels = labelled.column(LABEL_KEY).to_numpy()
        risk = score_examples(champion["model"], labelled) if labelled.num_rows else []
        concept = concept_drift(labels, risk, settings.evaluation.threshold, champion["metrics"],
                                max_auc_drop, max_f1_drop)
    else:
        concept = {"measured": False, "drift": False, "reason": f"not measured: no outcome table at {outcomes}"}
    concept_reason = ("concept drift: " if concept["drift"] else "no concept drift: ") + concept["reason"]

    is_drift = bool(drift) or concept["drift"]
    verdict = "retrain" if is_drift else "no retrain needed"
    result.update(drift=is_drift, data_drift=bool(drift), concept_drift=concept["drift"],
                  features=sorted({r["feature"] for r in drift}), concept=concept,
                  reason=f"{verdict}: {data_reason}; {concept_reason}", report=str(out / "drift.json"))
    _write_json(out / "drift.json", {**result, "anomalies": drift, "checked_at": _now()})
    return result


# --- CLI -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default="config/default.toml", help="settings TOML file")
    common.add_argument("--span", type=int, required=True)
    common.add_argument("--run-id", required=True, help="the pipeline run id (= Airflow run id)")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", parents=[common], help="record why this run exists")
    start.add_argument("--reason", required=True, choices=("weekly", "drift", "manual"))
    start.add_argument("--run-type", default="manual")
    sub.add_parser("anomalies", parents=[common], help="write the data steward's report")
    for name in ("data-decision", "approval-decision"):
        p = sub.add_parser(name, parents=[common], help="record a reviewer's decision")
        p.add_argument("--decision", required=True)
        p.add_argument("--by", required=True, help="who decided (user name)")
        p.add_argument("--at", default="", help="when (ISO 8601); now when empty")
    sub.add_parser("candidate", parents=[common], help="write the manager's candidate summary")
    drift = sub.add_parser("drift-check", help="drift of the newest landing span against the last trained one")
    drift.add_argument("--config", default="config/default.toml", help="settings TOML file")
    drift.add_argument("--span", type=int, default=None, help="default: the newest complete span")
    drift.add_argument("--max-auc-drop", type=float, default=0.05, help="concept drift: AUC drop vs promotion")
    drift.add_argument("--max-f1-drop", type=float, default=0.1, help="concept drift: F1 drop vs promotion")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.config)
    if args.command == "start":
        result = record_start(settings, args.run_id, args.span, args.reason, args.run_type, args.config)
    elif args.command == "anomalies":
        result = write_anomaly_report(settings, args.run_id)
    elif args.command == "data-decision":
        result = record_data_decision(settings, args.run_id, args.span, args.decision, args.by, args.at)
    elif args.command == "drift-check":
        result = check_drift(settings, args.span, max_auc_drop=args.max_auc_drop, max_f1_drop=args.max_f1_drop)
    elif args.command == "candidate":
        result = write_candidate_summary(settings, args.run_id)
    else:
        result = record_approval(settings, args.run_id, args.span, args.decision, args.by, args.at)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
