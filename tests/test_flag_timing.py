"""Lead time at the evaluation's cut: ``flag_timing`` by hand, and the ``FlagTiming`` TFMA metric per slice.

Cost: one small TFMA run on precomputed predictions (``tfma.analyze_raw_data``, 8 rows), about 10 s.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from dropout.contract import features as F
from dropout.pipeline.metrics import DROPOUTS_FLAGGED_WHILE_ACTIVE, FLAGGED_ALREADY_SILENT, flag_timing

# Eight learners, 10-day windows. Columns: label, risk, active days (as a string), course.
LEARNERS = [
    (1, 0.95, "1111111111", "A"),  # dropout flagged while active
    (1, 0.90, "1100000000", "A"),  # dropout flagged, already silent 8 days
    (1, 0.20, "1111111100", "A"),  # dropout not flagged
    (0, 0.85, "1111111111", "A"),  # false alarm, active
    (1, 0.99, "0000000000", "B"),  # dropout flagged, never active
    (1, 0.81, "0000000001", "B"),  # dropout flagged on its last active day
    (0, 0.10, "1010101010", "B"),
    (0, 0.30, "1111111111", "B"),
]


def _arrays(rows):
    labels = np.array([r[0] for r in rows])
    scores = np.array([r[1] for r in rows])
    active = np.array([[c == "1" for c in r[2]] for r in rows], np.float32)
    return labels, scores, active, np.ones_like(active)


def test_flag_timing_by_hand():
    early, late = flag_timing(*_arrays(LEARNERS), threshold=0.8, silent_days=7)
    assert early == pytest.approx(2 / 5)  # learners 0 and 5 of the five dropouts
    assert late == pytest.approx(2 / 5)  # learners 1 and 4 of the five flagged
    nobody = flag_timing(*_arrays(LEARNERS), threshold=1.0, silent_days=7)
    assert nobody[0] == 0.0 and math.isnan(nobody[1])


def test_flag_timing_is_a_tfma_metric_per_slice(tmp_path):
    import tensorflow_model_analysis as tfma

    labels, scores, active, enrolled = _arrays(LEARNERS)
    frame = pd.DataFrame(
        {
            F.LABEL_KEY: labels,
            F.RISK_OUTPUT: scores,
            F.ACTIVE_MASK_KEY: list(active),
            F.ENROLLED_MASK_KEY: list(enrolled),
            "course_id": [r[3] for r in LEARNERS],
        }
    )
    config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(label_key=F.LABEL_KEY, prediction_key=F.RISK_OUTPUT)],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["course_id"])],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(
                        class_name="FlagTiming",
                        module="dropout.pipeline.metrics",
                        config=json.dumps({"threshold": 0.8, "silent_days": 7}),
                    )
                ]
            )
        ],
    )
    result = tfma.analyze_raw_data(frame, config, output_path=str(tmp_path))
    got = {}
    for slice_key, metrics in result.slicing_metrics:
        values = metrics[""][""]
        got[slice_key] = (
            values[DROPOUTS_FLAGGED_WHILE_ACTIVE]["doubleValue"],
            values[FLAGGED_ALREADY_SILENT]["doubleValue"],
        )
    assert got[()] == pytest.approx((2 / 5, 2 / 5))
    assert got[(("course_id", "A"),)] == pytest.approx((1 / 3, 1 / 3))  # flagged: 0, 1, 3
    assert got[(("course_id", "B"),)] == pytest.approx((1 / 2, 1 / 2))  # flagged: 4, 5
