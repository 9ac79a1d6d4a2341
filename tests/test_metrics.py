"""Top-fraction precision/recall and the fairness gate's plain functions."""

import math

import numpy as np
import pytest

from dropout.pipeline.components.fairness_gate import gate
from dropout.pipeline.metrics import precision_recall_at_top


@pytest.mark.parametrize(
    "labels, scores, fraction, expected",
    [
        ([1, 0, 1, 0, 0, 0, 0, 0, 0, 1], [0.9, 0.8, 0.1, 0, 0, 0, 0, 0, 0, 0.2], 0.1, (1.0, 1 / 3)),
        ([1, 0, 1, 0, 0, 0, 0, 0, 0, 1], [0.9, 0.8, 0.1, 0, 0, 0, 0, 0, 0, 0.2], 0.2, (0.5, 1 / 3)),
        ([1, 1, 0, 0], [0.1, 0.2, 0.9, 0.8], 0.5, (0.0, 0.0)),
        ([0, 0, 0], [0.3, 0.2, 0.1], 0.5, (0.0, float("nan"))),
    ],
)
def test_precision_recall_at_top(labels, scores, fraction, expected):
    precision, recall = precision_recall_at_top(np.array(labels), np.array(scores), fraction)
    assert precision == pytest.approx(expected[0])
    if math.isnan(expected[1]):
        assert math.isnan(recall)
    else:
        assert recall == pytest.approx(expected[1])


def test_top_fraction_flags_at_least_one_learner():
    assert precision_recall_at_top(np.array([1, 0]), np.array([0.9, 0.1]), 0.01) == (1.0, 1.0)


def test_top_fraction_rejects_bad_fraction():
    with pytest.raises(ValueError, match="fraction"):
        precision_recall_at_top(np.array([1]), np.array([0.5]), 0.0)


def _row(slice_, recall, count, mean_label):
    return {"slice": slice_, "metrics": {"recall": recall, "example_count": count, "mean_label": mean_label}}


def test_recall_gap_compares_qualified_groups_and_reports_skipped():
    rows = [
        _row({}, 0.7, 1000, 0.3),
        _row({"gender": "f"}, 0.8, 400, 0.3),
        _row({"gender": "m"}, 0.6, 400, 0.3),
        _row({"gender": "x"}, 0.0, 20, 0.1),  # 2 positives: too few to judge
        _row({"course_id": "C1"}, 0.1, 500, 0.3),  # another attribute: ignored
    ]
    gap = gate.recall_gap(rows, "gender", min_positives=10)
    assert gap["groups"] == {"f": 0.8, "m": 0.6}
    assert gap["gap"] == pytest.approx(0.2)
    assert "x" in gap["skipped"]


@pytest.mark.parametrize(
    "evaluator_blessed, gap, max_gap, blessed",
    [(True, 0.1, 0.25, True), (True, 0.3, 0.25, False), (False, 0.0, 0.25, False)],
)
def test_gate_decision(evaluator_blessed, gap, max_gap, blessed):
    decision, reason = gate.decide(
        evaluator_blessed, {"gap": gap, "metric": "recall", "attribute": "gender", "groups": {}}, max_gap
    )
    assert decision is blessed
    assert reason


def test_flat_metrics_reads_tfma_dicts():
    metrics = {"": {"": {"auc": {"doubleValue": 0.8}, "plot": {"bytesValue": "x"}}}}
    assert gate.flat_metrics(metrics) == {"auc": 0.8}
