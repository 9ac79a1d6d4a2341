"""Evaluation metrics the teachers' workflow needs and TFMA lacks: precision and recall among the
top fraction (default 10 %) of risk scores, the learners a teacher can actually contact; and whether
the flags come while there is still time (lead time at the evaluation's cut).

``precision_recall_at_top`` and ``flag_timing`` are the plain functions; ``TopFractionPrecisionRecall``
and ``FlagTiming`` wrap them as TFMA metrics so they are computed per slice inside the Evaluator.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

from dropout.contract import features as F
from dropout.ingestion.aggregate import silent

PRECISION_AT_TOP = "precision_at_top"
RECALL_AT_TOP = "recall_at_top"
DROPOUTS_FLAGGED_WHILE_ACTIVE = "dropouts_flagged_while_active"
FLAGGED_ALREADY_SILENT = "flagged_already_silent"


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


def flag_timing(
    labels: np.ndarray,
    scores: np.ndarray,
    active: np.ndarray,
    enrolled: np.ndarray,
    threshold: float,
    silent_days: int,
) -> tuple[float, float]:
    """Lead time at one cut: is the model flagging learners who can still be reached?

    Returns ``(dropouts flagged while active, flagged already silent)``: the share of positives
    (eventual dropouts) flagged (risk >= ``threshold``) while still active on one of their last
    ``silent_days`` enrolled days, and the share of flagged learners already silent for that long
    (what course staff see without a model). nan where the denominator is 0.
    """
    labels = np.asarray(labels, dtype=float).reshape(-1) > 0.5
    flagged = np.asarray(scores, dtype=float).reshape(-1) >= threshold
    quiet = silent(active, enrolled, silent_days) if labels.size else np.zeros(0, bool)
    positives, n_flagged = int(labels.sum()), int(flagged.sum())
    early = float((labels & flagged & ~quiet).sum()) / positives if positives else float("nan")
    late = float((flagged & quiet).sum()) / n_flagged if n_flagged else float("nan")
    return early, late


class _TimingCombiner(beam.CombineFn):
    """Collects (label, score, active mask, enrolled mask) of a slice's learners."""

    def __init__(
        self, keys, threshold: float, silent_days: int, eval_config, model_name: str, output_name: str
    ):
        self._keys = keys
        self._threshold = threshold
        self._silent_days = silent_days
        self._eval_config = eval_config
        self._model_name = model_name
        self._output_name = output_name

    def create_accumulator(self) -> list:
        return []

    def add_input(self, accumulator: list, element: Any) -> list:
        features = element.features
        active = np.asarray(features[F.ACTIVE_MASK_KEY], np.float32).reshape(-1)
        enrolled = np.asarray(features[F.ENROLLED_MASK_KEY], np.float32).reshape(-1)
        for label, prediction, _ in metric_util.to_label_prediction_example_weight(
            element,
            eval_config=self._eval_config,
            model_name=self._model_name,
            output_name=self._output_name,
            flatten=True,
        ):
            accumulator.append((float(label), float(prediction), active, enrolled))
        return accumulator

    def merge_accumulators(self, accumulators) -> list:
        merged: list = []
        for acc in accumulators:
            merged.extend(acc)
        return merged

    def extract_output(self, accumulator: list) -> dict:
        if not accumulator:
            return {self._keys[0]: float("nan"), self._keys[1]: float("nan")}
        labels, scores, active, enrolled = zip(*accumulator, strict=True)
        early, late = flag_timing(
            np.asarray(labels),
            np.asarray(scores),
            np.stack(active),
            np.stack(enrolled),
            self._threshold,
            self._silent_days,
        )
        return {self._keys[0]: early, self._keys[1]: late}


def _flag_timing_computations(
    threshold: float = 0.8,
    silent_days: int = 7,
    name: str = DROPOUTS_FLAGGED_WHILE_ACTIVE,
    eval_config: config_pb2.EvalConfig | None = None,
    model_name: str = "",
    output_name: str = "",
    sub_key: metric_types.SubKey | None = None,
    aggregation_type: Any = None,
    class_weights: Any = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    keys = tuple(
        metric_types.MetricKey(
            name=key, model_name=model_name, output_name=output_name, example_weighted=example_weighted
        )
        for key in (DROPOUTS_FLAGGED_WHILE_ACTIVE, FLAGGED_ALREADY_SILENT)
    )
    return [
        metric_types.MetricComputation(
            keys=list(keys),
            preprocessors=[
                metric_types.FeaturePreprocessor(feature_keys=[F.ACTIVE_MASK_KEY, F.ENROLLED_MASK_KEY])
            ],
            combiner=_TimingCombiner(keys, threshold, silent_days, eval_config, model_name, output_name),
        )
    ]


class FlagTiming(metric_types.Metric):
    """TFMA metric: ``dropouts_flagged_while_active`` and ``flagged_already_silent`` at ``threshold``."""

    def __init__(
        self, threshold: float = 0.8, silent_days: int = 7, name: str = DROPOUTS_FLAGGED_WHILE_ACTIVE
    ):
        super().__init__(
            metric_util.merge_per_key_computations(_flag_timing_computations),
            threshold=threshold,
            silent_days=silent_days,
            name=name,
        )


metric_types.register_metric(FlagTiming)
