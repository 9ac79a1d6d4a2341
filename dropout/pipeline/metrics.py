"""Evaluation metrics the teachers' workflow needs and TFMA lacks: precision and recall among the
top fraction (default 10 %) of risk scores, the learners a teacher can actually contact.

``precision_recall_at_top`` is the plain function; ``TopFractionPrecisionRecall`` wraps it as a TFMA
metric so it is computed per slice inside the Evaluator.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

PRECISION_AT_TOP = "precision_at_top"
RECALL_AT_TOP = "recall_at_top"


def precision_recall_at_top(labels: np.ndarray, scores: np.ndarray, fraction: float) -> tuple[float, float]:
    """Precision and recall when the ``fraction`` of learners with the highest risk are flagged.

    At least one learner is flagged when there is any. Ties at the cut-off are broken by order.
    Returns (nan, nan) for an empty input; recall is nan when there are no positives.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    labels = np.asarray(labels, dtype=float).reshape(-1)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if labels.size == 0:
        return float("nan"), float("nan")
    k = max(1, int(np.ceil(fraction * labels.size)))
    top = np.argsort(-scores, kind="stable")[:k]
    hits = float(labels[top].sum())
    positives = float(labels.sum())
    return hits / k, (hits / positives if positives else float("nan"))


class _ScoresCombiner(beam.CombineFn):
    """Collects (label, score) pairs of a slice; eval sets are learner-sized, so this stays small."""

    def __init__(
        self,
        keys: tuple[metric_types.MetricKey, metric_types.MetricKey],
        fraction: float,
        eval_config: config_pb2.EvalConfig | None,
        model_name: str,
        output_name: str,
    ):
        self._keys = keys
        self._fraction = fraction
        self._eval_config = eval_config
        self._model_name = model_name
        self._output_name = output_name

    def create_accumulator(self) -> list[tuple[float, float]]:
        return []

    def add_input(self, accumulator: list, element: Any) -> list:
        for label, prediction, _ in metric_util.to_label_prediction_example_weight(
            element,
            eval_config=self._eval_config,
            model_name=self._model_name,
            output_name=self._output_name,
            flatten=True,
        ):
            accumulator.append((float(label), float(prediction)))
        return accumulator

    def merge_accumulators(self, accumulators) -> list:
        merged: list = []
        for acc in accumulators:
            merged.extend(acc)
        return merged

    def extract_output(self, accumulator: list) -> dict:
        pairs = np.asarray(accumulator, dtype=float).reshape(-1, 2)
        precision, recall = precision_recall_at_top(pairs[:, 0], pairs[:, 1], self._fraction)
        return {self._keys[0]: precision, self._keys[1]: recall}


def _top_fraction_computations(
    top_fraction: float = 0.1,
    name: str = PRECISION_AT_TOP,
    eval_config: config_pb2.EvalConfig | None = None,
    model_name: str = "",
    output_name: str = "",
    sub_key: metric_types.SubKey | None = None,
    aggregation_type: Any = None,
    class_weights: Any = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    keys = (
        metric_types.MetricKey(
            name=PRECISION_AT_TOP,
            model_name=model_name,
            output_name=output_name,
            example_weighted=example_weighted,
        ),
        metric_types.MetricKey(
            name=RECALL_AT_TOP,
            model_name=model_name,
            output_name=output_name,
            example_weighted=example_weighted,
        ),
    )
    return [
        metric_types.MetricComputation(
            keys=list(keys),
            preprocessors=None,
            combiner=_ScoresCombiner(keys, top_fraction, eval_config, model_name, output_name),
        )
    ]


class TopFractionPrecisionRecall(metric_types.Metric):
    """TFMA metric: ``precision_at_top`` and ``recall_at_top`` for the top ``top_fraction`` of scores."""

    def __init__(self, top_fraction: float = 0.1, name: str = PRECISION_AT_TOP):
        super().__init__(
            metric_util.merge_per_key_computations(_top_fraction_computations),
            top_fraction=top_fraction,
            name=name,
        )


metric_types.register_metric(TopFractionPrecisionRecall)
