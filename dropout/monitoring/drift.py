"""The drift monitor: should the champion be retrained on the newest span of landing data?

Data drift: the newest complete span is ingested in serving mode (labels may not exist yet) and its
TFDV statistics are compared with the statistics of the span the champion was trained on, by the
pipeline's own drift comparison (``dropout.pipeline.drift.compare``: the curated schema's comparators
and thresholds, as DistributionValidator applies them). Concept drift: learners of the span that
already have an outcome are scored by the champion, whose AUC and F1 are compared with its evaluation
at promotion. Either beyond its thresholds means retrain (``drift`` true); otherwise ``reason`` says
why no retrain is needed. Written to ``<pipeline root>/drift_monitor/span-N/drift.json``.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from dropout.contract.settings import Settings
from dropout.review.report import measured_vs_threshold


def newest_complete_span(settings: Settings) -> int | None:
    """The last span whose every landing day has a directory (None before the first full span)."""
    from dropout.ingestion.adapters import landed_days

    days = landed_days(Path(settings.data.root) / "landing")
    if not days:
        return None
    first = datetime.date.fromisoformat(settings.data.first_day)
    covered = (days[-1] - first).days + 1
    span = covered // settings.data.window_days - 1
    return span if span >= 0 else None


def _fmt(value: Any) -> str:
    return "—" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def concept_drift(
    labels, risk, threshold: float, at_promotion: dict[str, float], max_auc_drop: float, max_f1_drop: float
) -> dict[str, Any]:
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
    out: dict[str, Any] = {
        "learners": int(labels.size),
        "positives": int(labels.sum()),
        "measured": False,
        "drift": False,
        "max_auc_drop": max_auc_drop,
        "max_f1_drop": max_f1_drop,
    }
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
    within = (
        f"AUC {auc:.4f} vs {_fmt(auc0)} at promotion (drop {_fmt(auc_drop)} <= {max_auc_drop}), "
        f"F1 {f1:.4f} vs {_fmt(f10)} (drop {_fmt(f1_drop)} <= {max_f1_drop})"
    )
    out.update(
        measured=True,
        drift=bool(beyond),
        auc=auc,
        f1=f1,
        auc_at_promotion=auc0,
        f1_at_promotion=f10,
        auc_drop=auc_drop,
        f1_drop=f1_drop,
        reason="; ".join(beyond) if beyond else within,
    )
    return out


def check_drift(
    settings: Settings, span: int | None = None, *, max_auc_drop: float = 0.05, max_f1_drop: float = 0.1
) -> dict[str, Any]:
    """Data and concept drift of the newest span of landing data against the champion (see the module doc)."""
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl

    from dropout.contract import features as F
    from dropout.contract.settings import pseudonym_key
    from dropout.ingestion import ingest_span
    from dropout.ingestion.aggregate import feature_columns, to_list_columns
    from dropout.pipeline import champion as champion_lib
    from dropout.pipeline import drift, outputs
    from dropout.pipeline import schema as schema_lib
    from dropout.review.records import now, write_json

    data, pipe = settings.data, settings.pipeline
    span = newest_complete_span(settings) if span is None else span
    model_dir = Path(pipe.serving_root) / pipe.model_name
    found = champion_lib.find_champion(pipe.metadata_path, model_dir)
    training = (
        champion_lib.training_run(pipe.metadata_path, pipe.name, found.run_id)
        if found is not None and found.run_id is not None
        else None
    )
    result: dict[str, Any] = {
        "span": span,
        "baseline_span": training.span if training else None,
        "champion_run": training.run_id if training else None,
        "drift": False,
        "data_drift": False,
        "concept_drift": False,
        "features": [],
    }
    if training is None:
        result["reason"] = "no retrain needed: no champion yet (no model was ever pushed); train one first"
        return result
    if span is None or training.span is None or span <= training.span:
        result["reason"] = (
            f"no retrain needed: no complete span newer than the champion's span {training.span}"
        )
        return result
    ingest: dict[str, Any] = dict(
        first_day=datetime.date.fromisoformat(data.first_day),
        span=span,
        window_days=data.window_days,
        key=pseudonym_key(settings.ingestion),
        clock_skew_minutes=settings.ingestion.clock_skew_minutes,
        eval_fraction=settings.ingestion.eval_fraction,
        label_column=data.label_column,
    )
    examples = ingest_span(
        f"{data.root}/landing", f"{data.root}/learners.csv", None, mode="serving", **ingest
    ).examples
    stats = stats_impl.generate_statistics_in_memory(to_list_columns(examples), tfdv.StatsOptions())
    baseline = tfdv.load_stats_binary(str(training.statistics))
    schema = schema_lib.schema_for_window(
        schema_lib.load_schema(Path(pipe.schema_dir) / schema_lib.SCHEMA_FILE), data.window_days
    )
    anomalies = drift.compare(stats, baseline, schema)
    out = Path(pipe.root) / "drift_monitor" / f"span-{span}"
    (out / "Split-all").mkdir(parents=True, exist_ok=True)
    (out / "Split-all" / "SchemaDiff.pb").write_bytes(anomalies.SerializeToString())
    drifted = outputs.anomaly_rows(anomalies, "all")
    comparators = len(drift.compared_features(schema))
    data_reason = (
        f"data drift in {len(drifted)} of {comparators} features: "
        + "; ".join(f"{r['feature']} {measured_vs_threshold(r) or ', '.join(r['types'])}" for r in drifted)
        if drifted
        else f"no data drift: none of the {comparators} features with a drift comparator is beyond its threshold"
    )

    outcomes = Path(data.root) / "outcomes.csv"
    if outcomes.exists():
        labelled = ingest_span(
            f"{data.root}/landing", f"{data.root}/learners.csv", outcomes, mode="training", **ingest
        ).examples
        columns = feature_columns(labelled, data.window_days)
        risk: Any = champion_lib.score(champion_lib.load(model_dir), columns) if labelled.num_rows else []
        concept = concept_drift(
            columns[F.LABEL_KEY],
            risk,
            settings.evaluation.threshold,
            training.metrics,
            max_auc_drop,
            max_f1_drop,
        )
    else:
        concept = {
            "measured": False,
            "drift": False,
            "reason": f"not measured: no outcome table at {outcomes}",
        }
    concept_reason = ("concept drift: " if concept["drift"] else "no concept drift: ") + concept["reason"]

    is_drift = bool(drifted) or concept["drift"]
    verdict = "retrain" if is_drift else "no retrain needed"
    result.update(
        drift=is_drift,
        data_drift=bool(drifted),
        concept_drift=concept["drift"],
        features=sorted({r["feature"] for r in drifted}),
        concept=concept,
        reason=f"{verdict}: {data_reason}; {concept_reason}",
        report=str(out / "drift.json"),
    )
    write_json(out / "drift.json", {**result, "anomalies": drifted, "checked_at": now()})
    return result
