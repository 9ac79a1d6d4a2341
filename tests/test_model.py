"""Model behaviour: the feature contract at the inputs, learning a known signal, masking of padding
days, the multitask score weighting, class weights, strategy choice, callbacks and save/reload.

Predictions for checks are direct (eager) model calls: tracing a Keras predict/evaluate function
costs seconds per model and tells nothing more.
"""

from __future__ import annotations

import json

import _synthetic as S
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from dropout.contract import features as F
from dropout.contract.settings import ModelSettings
from dropout.pipeline import model as M

SMALL = {"lstm_units": 16, "dense_units": 8}


def _build(architecture: str, seed: int = 0, **overrides) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return M.build_model(ModelSettings(architecture=architecture, **overrides), S.WINDOW_DAYS, S.VOCAB_SIZES)


def _risk(model: keras.Model, features: dict[str, np.ndarray]) -> np.ndarray:
    out = model(features, training=False)
    return np.asarray(out[M.RISK_OUTPUT] if isinstance(out, dict) else out).ravel()


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as the probability that a random positive outranks a random negative (ties count 1/2)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


# --- the feature contract -------------------------------------------------------------------------


@pytest.mark.parametrize("architecture", M.ARCHITECTURES)
def test_inputs_and_outputs_follow_the_feature_contract(architecture):
    model = _build(architecture, **SMALL)

    inputs = {t.name: (t.dtype, tuple(t.shape)) for t in model.inputs}
    expected = {F.transformed_name(k): (tf.float32, (None, S.WINDOW_DAYS)) for k in F.sequence_keys()}
    expected |= {F.transformed_name(k): (tf.int64, (None,)) for k in F.CATEGORICAL_CONTEXT}
    expected |= {F.transformed_name(k): (tf.float32, (None,)) for k in F.NUMERIC_CONTEXT}
    assert inputs == expected
    assert set(M.input_names()) == set(expected)
    assert not {F.transformed_name(k) for k in (*F.FAIRNESS_ATTRIBUTES, F.LEARNER_KEY)} & set(inputs)

    for key in F.CATEGORICAL_CONTEXT:  # the OOV index (== vocabulary size) has its own row
        assert model.get_layer(f"embed_{key}").input_dim == S.VOCAB_SIZES[key] + 1

    features, _, _ = S.learners(8, seed=1)
    out = model(features, training=False)
    if architecture == "multitask":
        assert sorted(model.output_names) == ["final_score", "risk"]
        assert set(out) == {"final_score", "risk"} and out["final_score"].shape == (8, 1)
    else:
        assert model.output_names == ["risk"]
    risk = _risk(model, features)
    assert risk.shape == (8,) and np.all((risk > 0) & (risk < 1))


def test_build_model_rejects_unknown_architecture_and_missing_vocabulary():
    with pytest.raises(ValueError, match="lstm, attention, multitask"):
        M.build_model(ModelSettings(architecture="transformer"), 10, S.VOCAB_SIZES)
    with pytest.raises(ValueError, match="region"):
        M.build_model(ModelSettings(), 10, {k: v for k, v in S.VOCAB_SIZES.items() if k != "region"})
    with pytest.raises(ValueError, match="window_days"):
        M.build_model(ModelSettings(), 0, S.VOCAB_SIZES)


# --- learning and masking -------------------------------------------------------------------------


@pytest.mark.slow  # the first Keras fit in a process traces its train step (~30 s on 2 cores)
def test_lstm_learns_that_few_active_days_mean_dropout():
    features, labels, _ = S.learners(1200, seed=1)
    held_out, held_labels, _ = S.learners(600, seed=2)
    model = _build("lstm")  # the seed model with its default sizes
    untrained = _auc(held_labels, _risk(model, held_out))

    history = model.fit(
        features, labels, class_weight=M.class_weights(labels), epochs=4, batch_size=64, verbose=0
    )

    trained = _auc(held_labels, _risk(model, held_out))
    assert trained > 0.85, f"held-out AUC {trained:.3f} (untrained {untrained:.3f})"
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert set(history.history) >= {"loss", "auc", "pr_auc", "precision", "recall"}


def test_attention_model_trains_on_a_small_batch():
    features, labels, _ = S.learners(256, seed=3)
    model = _build("attention", **SMALL)
    history = model.fit(features, labels, epochs=2, batch_size=64, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert 0.0 <= history.history["auc"][-1] <= 1.0


@pytest.mark.parametrize("architecture", M.ARCHITECTURES)
def test_days_before_enrolment_do_not_change_risk(architecture):
    features, _, _ = S.learners(64, seed=4)
    enrolled = features[F.transformed_name(F.ENROLLED_MASK_KEY)]
    assert (enrolled == 0).any(), "fixture must contain padding days"
    model = _build(architecture, **SMALL)

    rng = np.random.default_rng(0)
    padding_changed = dict(features)
    enrolled_changed = dict(features)
    for key in (*F.SEQUENCE_FEATURES, F.ACTIVE_MASK_KEY):
        name = F.transformed_name(key)
        noise = rng.normal(scale=5.0, size=enrolled.shape).astype(np.float32)
        padding_changed[name] = np.where(enrolled == 0, noise, features[name])
        enrolled_changed[name] = np.where(enrolled == 1, noise, features[name])

    before = _risk(model, features)
    np.testing.assert_allclose(_risk(model, padding_changed), before, atol=1e-6)
    # Control: the same change on enrolled days does move the risk, so the check above can fail.
    assert np.abs(_risk(model, enrolled_changed) - before).max() > 1e-3


def test_learner_never_enrolled_in_the_window_gets_a_finite_risk():
    features, _, _ = S.learners(4, seed=6)
    features[F.transformed_name(F.ENROLLED_MASK_KEY)][:] = 0.0
    for architecture in ("lstm", "attention"):
        assert np.isfinite(_risk(_build(architecture, **SMALL), features)).all()


# --- multitask ------------------------------------------------------------------------------------


def test_sample_weights_zero_for_unknown_scores_and_fold_in_class_weights():
    targets = {
        "risk": np.array([[1], [0], [0], [1]]),
        "final_score": np.array([[0.5], [-1.0], [0.0], [-1.0]]),
    }
    weights = M.sample_weights(targets)
    np.testing.assert_array_equal(weights["final_score"].numpy(), [1, 0, 1, 0])
    np.testing.assert_array_equal(weights["risk"].numpy(), [1, 1, 1, 1])
    weighted = M.sample_weights(targets, class_weight={0: 0.25, 1: 3.0})
    np.testing.assert_allclose(weighted["risk"].numpy(), [3.0, 0.25, 0.25, 3.0])

    _, _, mapped = M.with_sample_weights({"x": np.zeros(4)}, targets)
    np.testing.assert_array_equal(mapped["final_score"].numpy(), [1, 0, 1, 0])


def _gradients(model: keras.Model, features, targets, weights) -> list[np.ndarray]:
    targets = {k: tf.constant(v) for k, v in targets.items()}
    with tf.GradientTape() as tape:
        predictions = model(features, training=False)
        loss = model.compute_loss(features, targets, predictions, weights)
    # Embedding gradients are IndexedSlices; densify them to compare.
    return [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, model.trainable_variables)]


def test_multitask_ignores_the_value_of_unknown_scores():
    features, labels, scores = S.learners(64, seed=7, unknown_score_fraction=0.5)
    unknown = scores < 0
    assert unknown.any() and (~unknown).any()
    targets = {"risk": labels.astype(np.float32).reshape(-1, 1), "final_score": scores.reshape(-1, 1)}
    weights = M.sample_weights(targets)
    model = _build("multitask", **SMALL)

    reference = _gradients(model, features, targets, weights)
    # Any value in an unknown row (same zero weight) leaves the update unchanged ...
    junk = dict(targets, final_score=np.where(unknown, 0.9, scores).reshape(-1, 1).astype(np.float32))
    for got, want in zip(_gradients(model, features, junk, weights), reference, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)
    # ... while changing a known score does change it.
    moved = dict(
        targets, final_score=np.where(unknown, scores, 1.0 - scores).reshape(-1, 1).astype(np.float32)
    )
    diffs = [
        np.abs(a - b).max()
        for a, b in zip(_gradients(model, features, moved, weights), reference, strict=True)
    ]
    assert max(diffs) > 1e-4


def test_multitask_trains_with_per_output_sample_weights():
    features, labels, scores = S.learners(256, seed=8)
    targets = {"risk": labels.astype(np.float32), "final_score": scores}
    model = _build("multitask", **SMALL)
    history = model.fit(
        features,
        targets,
        sample_weight=M.sample_weights(targets, M.class_weights(labels)),
        epochs=2,
        batch_size=64,
        verbose=0,
    )
    assert {"risk_loss", "final_score_loss", "risk_auc"} <= set(history.history)
    assert np.isfinite(history.history["loss"]).all()


# --- class weights --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([0, 0, 0, 1], {0: 4 / 6, 1: 2.0}),
        ([0, 1, 0, 1], {0: 1.0, 1: 1.0}),
        ([[1], [0], [0], [0], [0]], {0: 5 / 8, 1: 2.5}),  # a [batch, 1] label column
    ],
)
def test_class_weights_balance_the_classes(labels, expected):
    weights = M.class_weights(np.array(labels))
    assert weights.keys() == expected.keys()
    for label, value in expected.items():
        assert weights[label] == pytest.approx(value)


@pytest.mark.parametrize(
    ("labels", "message"),
    [([0, 0, 0], "class \\[1\\]"), ([1, 1], "class \\[0\\]"), ([], "among 0"), ([0, 2, 1], "0 or 1")],
)
def test_class_weights_errors(labels, message):
    with pytest.raises(ValueError, match=message):
        M.class_weights(np.array(labels))


# --- distribution strategy ------------------------------------------------------------------------

TWO_WORKERS = json.dumps(
    {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}
)
ONE_WORKER = json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}})
CHIEF_AND_WORKER = json.dumps(
    {"cluster": {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]}, "task": {"type": "chief", "index": 0}}
)


@pytest.mark.parametrize(
    ("name", "tf_config", "local_devices", "expected"),
    [
        ("auto", None, 0, "default"),
        ("auto", None, 1, "default"),
        ("auto", None, 2, "mirrored"),
        ("auto", ONE_WORKER, 4, "mirrored"),
        ("auto", ONE_WORKER, 1, "default"),
        ("auto", TWO_WORKERS, 0, "multi_worker"),
        ("auto", CHIEF_AND_WORKER, 8, "multi_worker"),
        ("default", TWO_WORKERS, 8, "default"),
        ("mirrored", None, 0, "mirrored"),
        ("multi_worker", None, 0, "multi_worker"),
    ],
)
def test_resolve_strategy_name(name, tf_config, local_devices, expected):
    assert M.resolve_strategy_name(name, tf_config, local_devices) == expected


def test_choose_strategy_default_and_mirrored(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    default = M.choose_strategy("default")
    assert default is tf.distribute.get_strategy()
    assert M.choose_strategy("auto").num_replicas_in_sync == 1

    mirrored = M.choose_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    described = M.strategy_description(mirrored)
    assert (
        described["class"] == "MirroredStrategy" and described["replicas"] == len(described["devices"]) >= 1
    )
    assert M.strategy_description(default)["replicas"] == 1
    json.dumps(described)  # tracking stores it as JSON


def test_choose_strategy_errors(monkeypatch):
    with pytest.raises(ValueError, match="auto, default, mirrored, multi_worker"):
        M.choose_strategy("horovod")
    with pytest.raises(ValueError, match="not valid JSON"):
        M.choose_strategy("auto", tf_config="{cluster")
    # TF_CONFIG from the environment is read when none is given; this one lacks the task.
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}}))
    with pytest.raises(ValueError, match="no task"):
        M.choose_strategy("multi_worker")


# --- callbacks and export -------------------------------------------------------------------------


def test_callbacks_stop_on_validation_auc_and_log_to_tensorboard(tmp_path):
    stopping, board = M.make_callbacks(str(tmp_path / "logs"), patience=3)
    assert isinstance(stopping, keras.callbacks.EarlyStopping) and isinstance(
        board, keras.callbacks.TensorBoard
    )
    assert (stopping.monitor, stopping.patience, stopping.restore_best_weights) == ("val_auc", 3, True)
    assert stopping.monitor_op is np.greater  # mode max
    assert board.log_dir == str(tmp_path / "logs")
    # The multitask model reports the same metric as val_risk_auc.
    assert stopping.get_monitor_value({"val_risk_auc": 0.7, "val_loss": 0.2}) == 0.7
    assert stopping.get_monitor_value({"val_auc": 0.6, "val_risk_auc": 0.7}) == 0.6


@pytest.mark.slow  # SavedModel export traces every call signature (~20 s)
def test_model_saves_and_reloads_as_savedmodel(tmp_path):
    # The attention model: it has the custom pooling layer, the riskiest part of serialisation.
    # (The lstm model is saved and reloaded in tests/test_distributed.py.)
    features, _, _ = S.learners(32, seed=9)
    model = _build("attention", **SMALL)
    path = str(tmp_path / "model")
    model.save(path, save_format="tf")

    reloaded = keras.models.load_model(path)
    assert sorted(t.name for t in reloaded.inputs) == sorted(M.input_names())
    assert isinstance(reloaded.get_layer("attention"), M.MaskedAttentionPooling)
    np.testing.assert_allclose(_risk(reloaded, features), _risk(model, features), atol=1e-6)
