"""preprocessing_fn run through TF Transform on a few rows: values and output schema."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata

from dropout.contract import features as F
from dropout.pipeline import drift
from dropout.pipeline import schema as schema_lib
from dropout.pipeline.transform import preprocessing_fn

REPO = Path(__file__).resolve().parents[1]
W = 4


def _row(learner, logins, active, course="C-PY101", price=0.0, label=0, score=50.0, intervened=(0.0, -1.0)):
    row = {key: np.zeros(W, np.float32) for key in F.sequence_keys()}
    row["logins"] = np.array(logins, np.float32)
    row[F.ACTIVE_MASK_KEY] = np.array(active, np.float32)
    row[F.ENROLLED_MASK_KEY] = np.ones(W, np.float32)
    row.update(
        {
            F.LEARNER_KEY: learner,
            F.SPAN_KEY: 0,
            "course_id": course,
            "cohort": "2026-09",
            "region": "EU",
            "device": "web",
            "plan": "free",
            "price": price,
            "age_band": "25-34",
            "gender": "f",
            F.LABEL_KEY: label,
            F.SCORE_KEY: score,
            F.INTERVENTIONS_KEY: intervened[0],
            F.INTERVENTION_OUTCOME_KEY: intervened[1],
        }
    )
    return row


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    schema = schema_lib.schema_for_window(schema_lib.load_schema(REPO / "schemas" / "schema.pbtxt"), W)
    rows = [
        _row("a", [2, 0, 4, 0], [1, 0, 1, 0], price=10.0, label=1, score=-1.0),
        _row("b", [0, 0, 0, 0], [0, 0, 0, 0], course="C-DS201", price=20.0),
        _row("c", [3, 3, 0, 0], [1, 1, 0, 0], price=30.0, score=100.0, intervened=(2.0, 1.0)),
    ]
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft"))):
        (data, metadata), _ = (
            rows,
            dataset_metadata.DatasetMetadata(schema),
        ) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn)
    return data, metadata


def test_sequences_are_z_scored_over_active_days_only(transformed):
    data, _ = transformed
    active_values = np.array([2, 4, 3, 3], np.float32)  # logins on active days
    mean, std = active_values.mean(), active_values.std()
    np.testing.assert_allclose(
        data[0][F.transformed_name("logins")], [(2 - mean) / std, 0, (4 - mean) / std, 0], rtol=1e-5
    )
    np.testing.assert_allclose(data[1][F.transformed_name("logins")], np.zeros(W))


def test_masks_pass_through_and_vocabulary_has_oov(transformed):
    data, _ = transformed
    np.testing.assert_array_equal(data[0][F.transformed_name(F.ACTIVE_MASK_KEY)], [1, 0, 1, 0])
    courses = {row[F.transformed_name("course_id")] for row in data}
    assert courses == {0, 1}  # two courses seen; index 2 is the OOV bucket


def test_intervention_context_is_z_scored(transformed):
    data, _ = transformed
    for key, values in (
        (F.INTERVENTIONS_KEY, [0.0, 0.0, 2.0]),
        (F.INTERVENTION_OUTCOME_KEY, [-1.0, -1.0, 1.0]),
    ):
        values = np.array(values, np.float32)
        expected = (values - values.mean()) / values.std()
        np.testing.assert_allclose([row[F.transformed_name(key)] for row in data], expected, rtol=1e-5)


def test_score_scaled_and_unknown_kept(transformed):
    data, _ = transformed
    assert [row[F.SCORE_KEY] for row in data] == pytest.approx([-1.0, 0.5, 1.0])
    assert [row[F.LABEL_KEY] for row in data] == [1, 0, 0]


def test_output_schema_has_model_inputs_and_no_identifiers(transformed):
    _, metadata = transformed
    names = {f.name for f in metadata.schema.feature}
    expected = {
        F.transformed_name(k) for k in (*F.sequence_keys(), *F.CATEGORICAL_CONTEXT, *F.NUMERIC_CONTEXT)
    }
    assert expected | {F.LABEL_KEY, F.SCORE_KEY} == names
    assert F.LEARNER_KEY not in names and "gender" not in names


def test_schema_window_and_drift_config():
    curated = schema_lib.load_schema(REPO / "schemas" / "schema.pbtxt")
    adapted = schema_lib.schema_for_window(curated, 7)
    dims = {f.name: [d.size for d in f.shape.dim] for f in adapted.feature}
    assert dims["logins"] == [7] and dims["course_id"] == []
    config = drift.comparator_config(curated)
    by_name = {c.path.step[0]: c.distribution_comparator for c in config.default_slice_config.feature}
    assert by_name["logins"].jensen_shannon_divergence.threshold == pytest.approx(0.1)
    assert by_name["cohort"].infinity_norm.threshold == pytest.approx(0.2)
    for key in F.INTERVENTION_CONTEXT:  # numeric context: Jensen-Shannon, like price
        assert by_name[key].jensen_shannon_divergence.threshold == pytest.approx(0.1)
    assert F.LABEL_KEY not in by_name
