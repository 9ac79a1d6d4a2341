"""Plain functions of the fairness gate: per-slice metrics out of a TFMA result and the recall gap."""

from __future__ import annotations

import math
from typing import Any

# (slice key, metrics) as TFMA's EvalResult.slicing_metrics holds them:
# slice key = tuple of (column, value) pairs, metrics = {output: {sub_key: {name: {"doubleValue": v}}}}.
SliceMetrics = tuple[tuple[tuple[str, Any], ...], dict]


def flat_metrics(metrics: dict) -> dict[str, float]:
    """Metric name -> float for a single-output model's TFMA metrics dict (values that are not numbers skipped)."""
    flat: dict[str, float] = {}
    for per_sub_key in metrics.values():
        for values in per_sub_key.values():
            for name, value in values.items():
                if isinstance(value, dict) and "doubleValue" in value:
                    flat[name] = float(value["doubleValue"])
    return flat


def slice_table(slicing_metrics: list[SliceMetrics]) -> list[dict[str, Any]]:
    """One row per slice: ``{"slice": {"col": value} or {}, "metrics": {name: value}}``."""
    rows = []
    for key, metrics in slicing_metrics:
        rows.append(
            {
                "slice": {str(col): (v.decode() if isinstance(v, bytes) else v) for col, v in key},
                "metrics": flat_metrics(metrics),
            }
        )
    return rows


def recall_gap(
    rows: list[dict[str, Any]], attribute: str, metric: str = "recall", min_positives: int = 10
) -> dict[str, Any]:
    """Largest gap in ``metric`` between the groups of ``attribute``.

    Groups with fewer than ``min_positives`` positive learners (recall is too noisy there) are listed
    as skipped, never silently ignored. Returns the per-group values, the gap (0 when fewer than two
    groups qualify) and which groups were compared.
    """
    groups: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for row in rows:
        if list(row["slice"]) != [attribute]:
            continue
        group = str(row["slice"][attribute])
        values = row["metrics"]
        positives = values.get("example_count", 0.0) * values.get("mean_label", 0.0)
        if metric not in values or math.isnan(values[metric]):
            skipped[group] = f"no {metric} computed"
        elif positives < min_positives:
            skipped[group] = f"{positives:.0f} positive learners < {min_positives}"
        else:
            groups[group] = values[metric]
    gap = (max(groups.values()) - min(groups.values())) if len(groups) >= 2 else 0.0
    return {"attribute": attribute, "metric": metric, "groups": groups, "skipped": skipped, "gap": gap}


def decide(evaluator_blessed: bool, gap: dict[str, Any], max_gap: float) -> tuple[bool, str]:
    """The gate's decision and its reason in plain words."""
    if not evaluator_blessed:
        return (
            False,
            "the Evaluator did not bless the model (metric floor or regression against the baseline)",
        )
    if gap["gap"] > max_gap:
        return False, (
            f"{gap['metric']} gap across {gap['attribute']} is {gap['gap']:.3f}, above the allowed "
            f"{max_gap:.3f} ({gap['groups']})"
        )
    return True, (
        f"blessed: {gap['metric']} gap across {gap['attribute']} is {gap['gap']:.3f} (allowed {max_gap:.3f})"
    )
