"""Training/serving skew: this run's serving examples against the champion's training statistics.

TFDV's skew check (``tfdv.validate_statistics(statistics=<training>, schema, serving_statistics=<serving>)``)
compares each feature that has a ``skew_comparator`` in the schema: Jensen-Shannon divergence for
numeric features, L-infinity distance for categorical ones, each with its own threshold.

- **Serving statistics** are computed over the model's inputs exactly as StatisticsGen sees a
  training example: one tf.Example per learner, a per-day feature is a float list of ``window_days``
  values (so its histogram is over every learner-day), context features are one-value lists.
- **Training statistics** and **schema** are those of the TFX run that produced the champion: the
  ``Split-train`` statistics of its StatisticsGen and the schema its ImportSchemaGen imported (the
  curated schema adapted to the run's window), found in ML Metadata from the champion's pushed
  directory (``dropout.pipeline.champion.champion_training``).
- Only skew is reported here: the training statistics were already checked against the schema by
  that run's ExampleValidator (and reviewed by a steward). Features of the schema that the model
  does not take (the learner pseudonym, span, label, fairness attributes) are not served, so their
  comparators are dropped and they are listed as not compared.

The report (JSON and HTML, per run, under ``<warning.out_dir>/runs/``) lists per skewed feature the
comparator, the measured distance and the threshold, in the same table as the training DAG's data
review (``dropout.review.report``).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from dropout.contract import features as F
from dropout.review.report import anomaly_table, anomaly_table_html, html_page


def model_inputs() -> tuple[str, ...]:
    """The raw features the model takes (what serving examples carry), in feature-module order."""
    return (*F.sequence_keys(), *F.CATEGORICAL_CONTEXT, *F.NUMERIC_CONTEXT)


def serving_batch(columns: dict[str, np.ndarray], keys: tuple[str, ...] | None = None):
    """The serving examples as the Arrow batch TFDV reads for tf.Examples: every feature a list column.

    Per-day features (``[n, window_days]``) become float lists of ``window_days`` values, categorical
    context one-value binary lists, numeric context one-value float lists (ingestion's own
    ``list_column`` and ``to_list_columns``, as LearnerExampleGen writes them). Keys missing from
    ``columns`` are left out (and so are not compared).
    """
    import pyarrow as pa

    from dropout.ingestion.aggregate import list_column, to_list_columns

    table = {}
    for key in keys or model_inputs():
        if key not in columns:
            continue
        values = np.asarray(columns[key])
        if values.ndim == 2:
            table[key] = list_column(values)
        elif values.dtype == object or values.dtype.kind in "SU":
            table[key] = pa.array([str(v) for v in values], pa.string())
        else:
            table[key] = pa.array(values.astype(np.float32))
    return to_list_columns(pa.table(table))


def serving_statistics(columns: dict[str, np.ndarray]):
    """TFDV statistics (``DatasetFeatureStatisticsList``) of the serving examples, default options as StatisticsGen."""
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl

    return stats_impl.generate_statistics_in_memory(serving_batch(columns), tfdv.StatsOptions())


def _stats_features(statistics) -> set[str]:
    return {".".join(f.path.step) or f.name for d in statistics.datasets for f in d.features}


def _measurement(m) -> dict[str, Any]:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    return {
        "type": anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(m.type),
        "value": float(m.value),
        "threshold": float(m.threshold),
    }


def find_skew(training_stats, serving_stats, schema) -> dict[str, Any]:
    """Skew of ``serving_stats`` against ``training_stats`` by the schema's skew comparators.

    Args:
        training_stats / serving_stats: ``DatasetFeatureStatisticsList`` (one dataset each).
        schema: the champion's schema; not modified (comparators of unserved features are dropped
            on a copy).

    Returns:
        ``{"anomalies": [row], "compared": [{"feature", "type", "value", "threshold"}], "not_compared":
        [feature]}``; a row has check ``skew``, split ``serving``, feature, severity, types,
        short, description and measurements (type, value, threshold), as ``dropout.pipeline.outputs.anomaly_rows``.
    """
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

    served = _stats_features(serving_stats)
    checked = schema_pb2.Schema()
    checked.CopyFrom(schema)
    not_compared = []
    for feature in checked.feature:
        if feature.HasField("skew_comparator") and feature.name not in served:
            feature.ClearField("skew_comparator")
            not_compared.append(feature.name)
    environment = "TRAINING" if "TRAINING" in checked.default_environment else None
    result = tfdv.validate_statistics(
        training_stats, checked, environment=environment, serving_statistics=serving_stats
    )
    measured = {
        ".".join(i.path.step): [_measurement(m) for m in i.skew_measurements] for i in result.drift_skew_info
    }
    rows = []
    for feature, info in sorted(result.anomaly_info.items()):
        types = [anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason]
        skew_types = [t for t in types if t.startswith("COMPARATOR_") or "SKEW" in t]
        if not skew_types:
            continue  # a schema anomaly of the training statistics: its run's ExampleValidator reported it
        beyond = [m for m in measured.get(feature, []) if m["value"] > m["threshold"]]
        rows.append(
            {
                "check": "skew",
                "split": "serving",
                "feature": feature,
                "severity": anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
                "types": skew_types,
                "short": info.short_description,
                "description": " ".join(
                    r.description
                    for r in info.reason
                    if anomalies_pb2.AnomalyInfo.Type.Name(r.type) in skew_types
                )
                or info.description,
                "measurements": beyond or measured.get(feature, []),
            }
        )
    compared = [{"feature": f, **m} for f, ms in sorted(measured.items()) for m in ms]
    return {"anomalies": rows, "compared": compared, "not_compared": sorted(not_compared)}


# --- The report ----------------------------------------------------------------------------------


def skew_markdown(report: dict[str, Any], html_path: str) -> str:
    """The steward's summary (Airflow review form body): counts, the table, the options."""
    rows = report["anomalies"]
    lines = [
        f"**{len(rows)} features skewed** in the serving examples of run `{report['run_id']}` "
        f"({report['active_learners']} active learners, window {report['window'][0]} to {report['window'][1]}) "
        f"against the training statistics of the champion (model version {report['model_version']}, "
        f"TFX run `{report['training_run']}`, span {report['training_span']}); "
        f"{len(report['compared'])} comparisons by the schema's skew comparators.",
        "",
        *anomaly_table(rows),
    ]
    lines += [
        "",
        f"Full report: `{html_path}`",
        "",
        f"The risk list is written ({report['flagged']} learners flagged); no intervention has gone out. "
        "*Act on scores*: send the interventions for this run. *Hold interventions* (also the default "
        "when nobody answers in time): send nothing and record why.",
    ]
    return "\n".join(lines)


def skew_html(report: dict[str, Any]) -> str:
    """The full report: every skewed feature, then every comparison made (the table of the data review)."""
    e = html.escape
    intro = (
        f"<p>Serving examples of {report['active_learners']} active learners, window {e(report['window'][0])} to "
        f"{e(report['window'][1])}, against the training statistics of the champion (model version "
        f"{report['model_version']}, TFX run <code>{e(str(report['training_run']))}</code>, span "
        f"{e(str(report['training_span']))}). {len(report['anomalies'])} features skewed.</p>"
    )
    compared = "".join(
        f"<tr><td>{e(c['feature'])}</td><td>{e(c['type'])}</td><td>{c['value']:.4f}</td>"
        f"<td>{c['threshold']:.4f}</td><td>{'skewed' if c['value'] > c['threshold'] else 'ok'}</td></tr>"
        for c in report["compared"]
    )
    every = (
        "<h2>Every comparison</h2><table><tr><th>feature</th><th>comparator</th><th>measured</th>"
        f"<th>threshold</th><th></th></tr>{compared}</table>"
        f"<p>Not compared (not served to the model): {e(', '.join(report['not_compared']) or 'none')}.</p>"
    )
    return html_page(
        f"Skew review: early-warning run {report['run_id']}",
        intro + anomaly_table_html(report["anomalies"]) + every,
    )


def write_report(report: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Write ``runs/skew-<run>.json`` and ``.html``; return the counts, paths and the steward's summary."""
    runs = Path(out_dir) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    json_path, html_path = runs / f"skew-{report['run_id']}.json", runs / f"skew-{report['run_id']}.html"
    json_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    html_path.write_text(skew_html(report))
    return {
        "run_id": report["run_id"],
        "skew": bool(report["anomalies"]),
        "anomalies": len(report["anomalies"]),
        "features": [r["feature"] for r in report["anomalies"]],
        "compared": len(report["compared"]),
        "report_json": str(json_path),
        "report_html": str(html_path),
        "body": skew_markdown(report, str(html_path)),
    }
