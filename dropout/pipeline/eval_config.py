"""TFMA evaluation config: metrics at the operating threshold, top-fraction precision, calibration,
slices by course, cohort, region, device, plan and fairness attributes, and the blessing thresholds."""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from dropout.contract import features as F
from dropout.contract.settings import EvaluationSettings

PREDICTION_KEY = F.RISK_OUTPUT


def _metric(class_name: str, module: str | None = None, **config) -> tfma.MetricConfig:
    return tfma.MetricConfig(
        class_name=class_name, module=module or "", config=json.dumps(config) if config else ""
    )


def make_eval_config(settings: EvaluationSettings, silent_days: int = 7) -> tfma.EvalConfig:
    """Evaluation of the candidate against the latest blessed model (when there is one).

    ``silent_days``: ``warning.silent_days``, for the lead-time metrics (``FlagTiming``).
    """
    floor = tfma.GenericValueThreshold(lower_bound={"value": settings.auc_floor})
    no_regression = tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -settings.regression_tolerance}
    )
    metrics = [
        _metric("ExampleCount"),
        # Blessing looks at the overall view only: small slices are too noisy for a floor; fairness
        # across groups is the FairnessGate's job. (Set on the MetricConfig: MetricsSpec-level
        # per_slice_thresholds are keyed without example weighting and never match TFMA's metric keys.)
        tfma.MetricConfig(
            class_name="AUC",
            per_slice_thresholds=[
                tfma.PerSliceMetricThreshold(
                    slicing_specs=[tfma.SlicingSpec()],
                    threshold=tfma.MetricThreshold(value_threshold=floor, change_threshold=no_regression),
                )
            ],
        ),
        _metric("AUCPrecisionRecall", name="pr_auc"),
        _metric("Precision", thresholds=settings.threshold, name="precision"),
        _metric("Recall", thresholds=settings.threshold, name="recall"),
        _metric("F1Score", thresholds=settings.threshold, name="f1"),
        _metric(
            "TopFractionPrecisionRecall",
            module="dropout.pipeline.metrics",
            top_fraction=settings.top_fraction,
        ),
        # Lead time at the evaluation's cut: flags that still reach an active learner, and flags of
        # learners already silent (a rule without a model finds those too).
        _metric(
            "FlagTiming",
            module="dropout.pipeline.metrics",
            threshold=settings.threshold,
            silent_days=silent_days,
        ),
        _metric("MeanLabel"),
        _metric("MeanPrediction"),
        _metric("Calibration"),
        _metric("CalibrationPlot", name="calibration_plot", num_buckets=10),
        _metric("ConfusionMatrixPlot", name="confusion_matrix_plot"),
    ]
    slicing = [tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[key]) for key in F.SLICE_COLUMNS]
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=F.SERVING_SIGNATURE, label_key=F.LABEL_KEY, prediction_key=PREDICTION_KEY
            )
        ],
        slicing_specs=slicing,
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )
