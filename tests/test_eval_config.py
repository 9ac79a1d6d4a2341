"""The blessing thresholds judge the overall view only, and match the keys TFMA really produces."""

import pytest
from tensorflow_model_analysis.evaluators import metrics_validator
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.utils import config_util

from dropout.contract.settings import EvaluationSettings
from dropout.pipeline.eval_config import make_eval_config

# TFMA's metric keys for an unweighted model carry example_weighted=False.
AUC = metric_types.MetricKey(name="auc", example_weighted=False)


@pytest.fixture(scope="module")
def config():
    return config_util.update_eval_config_with_defaults(
        make_eval_config(EvaluationSettings(auc_floor=0.65)), has_baseline=False, rubber_stamp=True
    )


@pytest.mark.parametrize(
    "slice_key, auc, ok",
    [
        ((), 0.80, True),
        ((), 0.50, False),  # the floor fails the model
        ((("gender", b"x"),), 0.50, True),  # a small group below the floor does not
    ],
)
def test_auc_floor_on_overall_slice_only(config, slice_key, auc, ok):
    assert metrics_validator.validate_metrics((slice_key, {AUC: auc}), config).validation_ok is ok


def test_every_slice_column_and_top_fraction_metric_configured():
    config = make_eval_config(EvaluationSettings(top_fraction=0.1))
    columns = {tuple(s.feature_keys) for s in config.slicing_specs}
    assert {(), ("course_id",), ("cohort",), ("device",), ("gender",), ("age_band",)} <= columns
    names = {m.class_name for m in config.metrics_specs[0].metrics}
    assert {
        "AUC",
        "AUCPrecisionRecall",
        "Precision",
        "Recall",
        "F1Score",
        "TopFractionPrecisionRecall",
        "FlagTiming",
        "CalibrationPlot",
    } <= names
