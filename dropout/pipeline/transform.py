"""Transform module (TF Transform): z-score normalisation and vocabularies.

The same graph is attached to the serving signature, so training and serving normalise identically.
Per-day behaviour features are z-scored over all active learner-days and set to 0 (the mean) on
inactive days: the active mask, passed through, tells the model those days are missing.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from dropout.contract import features as F


def _normalise_sequence(values: tf.Tensor, active: tf.Tensor) -> tf.Tensor:
    # Statistics over active days only: inactive days carry no measurement.
    mean = tft.mean(tf.boolean_mask(values, active > 0.5))
    var = tft.var(tf.boolean_mask(values, active > 0.5))
    std = tf.sqrt(tf.maximum(var, 1e-12))
    return tf.where(active > 0.5, (values - mean) / std, tf.zeros_like(values))


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Map raw learner examples to model inputs (plus the label and score when present)."""
    outputs: dict[str, tf.Tensor] = {}
    active = tf.cast(inputs[F.ACTIVE_MASK_KEY], tf.float32)
    for key in F.SEQUENCE_FEATURES:
        outputs[F.transformed_name(key)] = _normalise_sequence(tf.cast(inputs[key], tf.float32), active)
    for key in F.MASK_FEATURES:
        outputs[F.transformed_name(key)] = tf.cast(inputs[key], tf.float32)
    for key in F.CATEGORICAL_CONTEXT:
        outputs[F.transformed_name(key)] = tft.compute_and_apply_vocabulary(
            inputs[key], num_oov_buckets=1, vocab_filename=key
        )
    for key in F.NUMERIC_CONTEXT:
        outputs[F.transformed_name(key)] = tft.scale_to_z_score(tf.cast(inputs[key], tf.float32))
    # Label and score are absent in the SERVING environment.
    if F.LABEL_KEY in inputs:
        outputs[F.LABEL_KEY] = tf.cast(inputs[F.LABEL_KEY], tf.int64)
    if F.SCORE_KEY in inputs:
        score = tf.cast(inputs[F.SCORE_KEY], tf.float32)
        outputs[F.SCORE_KEY] = tf.where(score >= 0, score / 100.0, -tf.ones_like(score))
    return outputs
