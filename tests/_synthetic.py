"""Synthetic transformed learner batches for model tests and the distributed worker scripts.

The signal: a learner who was active on fewer than 40 % of their enrolled days dropped out
(label 1). Behaviour features are N(0, 1) on active days and 0 elsewhere, as after Transform.
Days before enrolment carry junk values on purpose: the model must mask them out.
"""

from __future__ import annotations

import numpy as np

from dropout.contract import features as F

VOCAB_SIZES = {"course_id": 6, "cohort": 3, "region": 4, "device": 3, "plan": 2}
WINDOW_DAYS = 10


def learners(
    n: int, seed: int, window_days: int = WINDOW_DAYS, unknown_score_fraction: float = 0.3
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Return (transformed features, labels int64 [n], scores float32 [n] in 0..1 or -1 unknown)."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, window_days // 2, size=n)  # first enrolled day
    days = np.arange(window_days)
    enrolled = (days[None, :] >= start[:, None]).astype(np.float32)
    p_active = rng.uniform(0.05, 0.95, size=n)
    active = ((rng.uniform(size=(n, window_days)) < p_active[:, None]) & (enrolled > 0)).astype(np.float32)
    share = active.sum(axis=1) / enrolled.sum(axis=1)
    labels = (share < 0.4).astype(np.int64)

    features: dict[str, np.ndarray] = {}
    for key in F.SEQUENCE_FEATURES:
        values = rng.normal(size=(n, window_days)).astype(np.float32) * active
        junk = rng.normal(loc=3.0, scale=2.0, size=(n, window_days)).astype(np.float32)
        features[F.transformed_name(key)] = np.where(enrolled > 0, values, junk).astype(np.float32)
    features[F.transformed_name(F.ACTIVE_MASK_KEY)] = active
    features[F.transformed_name(F.ENROLLED_MASK_KEY)] = enrolled
    for key in F.CATEGORICAL_CONTEXT:
        # Up to and including the OOV index (== vocabulary size).
        features[F.transformed_name(key)] = rng.integers(0, VOCAB_SIZES[key] + 1, size=n).astype(np.int64)
    for key in F.NUMERIC_CONTEXT:
        features[F.transformed_name(key)] = rng.normal(size=n).astype(np.float32)

    scores = np.clip(0.3 + 0.6 * share + rng.normal(scale=0.05, size=n), 0.0, 1.0).astype(np.float32)
    scores[rng.uniform(size=n) < unknown_score_fraction] = -1.0
    return features, labels, scores
