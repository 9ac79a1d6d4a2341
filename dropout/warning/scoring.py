"""Integrated-gradients attributions of the champion's risk (scores: ``dropout.pipeline.champion``), and the risk bands.

Integrated gradients (Sundararajan et al., 2017) on the per-day behaviour inputs and the active
mask, taken on the model's inputs after the pushed Transform graph: attribution = (x - x') * mean over the straight path from x' to x of d risk / d x. The
baseline x' is an *engaged* version of the same learner: active on every enrolled day with the
scored population's mean behaviour on active days. Attributions then split the gap between the
learner's risk and the engaged learner's risk over days and behaviours (they sum to that gap, up
to the path discretisation). Enrolment, course, plan and price are held fixed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dropout.contract import features as F
from dropout.pipeline.champion import LoadedModel, model_inputs

ATTRIBUTED = (*F.SEQUENCE_FEATURES, F.ACTIVE_MASK_KEY)


def engaged_baseline(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every enrolled day active, with the population's mean behaviour on active days."""
    enrolled = np.asarray(columns[F.ENROLLED_MASK_KEY], np.float32)
    active = np.asarray(columns[F.ACTIVE_MASK_KEY], np.float32) > 0.5
    base = {F.ACTIVE_MASK_KEY: enrolled.copy()}
    for key in F.SEQUENCE_FEATURES:
        values = np.asarray(columns[key], np.float32)
        mean = float(values[active].mean()) if active.any() else 0.0
        base[key] = np.where(enrolled > 0.5, mean, 0.0).astype(np.float32)
    return base


def _transformed(champion: LoadedModel, columns: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, Any]:
    """The model inputs after the pushed model's own Transform graph (identifiers get neutral placeholders)."""
    import tensorflow as tf

    raw = model_inputs(columns, rows)
    n = len(rows)
    raw[F.LEARNER_KEY] = tf.fill([n], "")
    raw[F.SPAN_KEY] = tf.zeros([n], tf.int64)
    for key in F.FAIRNESS_ATTRIBUTES:
        raw[key] = tf.fill([n], "")
    out = champion.owner.tft_layer(raw)
    return {k: v for k, v in out.items() if k.endswith("_xf")}


def integrated_gradients(
    champion: LoadedModel, columns: dict[str, np.ndarray], rows: np.ndarray, steps: int = 16
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Attributions for the learners at ``rows``, per raw per-day input.

    The path runs in the model's input space (after Transform): Transform zeroes the behaviour of
    inactive days with a step at active = 0.5, which a straight path over raw inputs would cross
    without a gradient. Transform is per-feature and per-day, so each transformed input's
    attribution belongs to the raw feature of the same name and day.

    Returns:
        ``({raw input: [len(rows), window_days]}, risk at the input, risk at the baseline)``.
    """
    import tensorflow as tf

    rows = np.asarray(rows)
    actual = _transformed(champion, columns, rows)
    base_columns = {**columns, **engaged_baseline(columns)}
    baseline = _transformed(champion, base_columns, rows)
    names = {F.transformed_name(k): k for k in ATTRIBUTED}
    model = champion.owner

    def risk_at(inputs: dict[str, Any]) -> Any:
        out = model(inputs, training=False)
        return tf.reshape(out["risk"] if isinstance(out, dict) else out, [-1])

    total = {t: tf.zeros_like(actual[t]) for t in names}
    for alpha in (np.arange(steps, dtype=np.float32) + 0.5) / steps:  # midpoint rule
        point = {t: baseline[t] + float(alpha) * (actual[t] - baseline[t]) for t in names}
        with tf.GradientTape() as tape:
            tape.watch(list(point.values()))
            risk = risk_at({**actual, **point})
        grads = tape.gradient(risk, point)
        total = {t: total[t] + tf.where(tf.math.is_finite(grads[t]), grads[t], 0.0) for t in names}
    attributions = {raw: ((actual[t] - baseline[t]) * total[t] / steps).numpy() for t, raw in names.items()}
    at_input = risk_at(actual).numpy()
    at_base = risk_at({**actual, **{t: baseline[t] for t in names}}).numpy()
    return attributions, at_input, at_base


def rank_and_flag(risk: np.ndarray, threshold: float, top_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Rank 1 = highest risk; band ``high`` (risk >= threshold), ``top`` (only in the top fraction) or ``""``."""
    n = len(risk)
    order = np.argsort(-risk, kind="stable")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(1, n + 1)
    top_n = int(np.ceil(top_fraction * n)) if n else 0
    band = np.where(risk >= threshold, "high", np.where(rank <= top_n, "top", "")).astype(object)
    return rank, band
