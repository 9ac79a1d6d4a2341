"""Trainer module: ``run_fn`` builds the datasets, the model under the configured tf.distribute
strategy, trains it with class weights and early stopping, and exports a serving model whose
signature takes serialized tf.Examples and applies the Transform graph.

``run_fn`` stays thin; the model lives in ``dropout.pipeline.model``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs  # not tfx.v1: see tfx_api
from tfx_bsl.public import tfxio

from dropout.contract import features as F
from dropout.contract.settings import ModelSettings
from dropout.pipeline import model as model_lib

SERVING_SIGNATURE = F.SERVING_SIGNATURE


def _labels(features: dict[str, tf.Tensor], architecture: str) -> tuple[dict[str, tf.Tensor], Any]:
    label = features.pop(F.LABEL_KEY)
    score = features.pop(F.SCORE_KEY, None)
    label = tf.reshape(tf.cast(label, tf.float32), [-1, 1])
    if architecture != "multitask":
        return features, label
    score = tf.reshape(score, [-1, 1])
    return features, {"risk": label, "final_score": score}


def input_dataset(
    file_pattern: list[str],
    data_accessor: DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    architecture: str,
) -> tf.data.Dataset:
    """Batches of (transformed features, label or {risk, final_score}) read once over the files."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, num_epochs=1, shuffle=True, shuffle_seed=7),
        tf_transform_output.transformed_metadata.schema,
    )
    dataset = dataset.map(lambda feats: _labels(feats, architecture), num_parallel_calls=tf.data.AUTOTUNE)
    if architecture == "multitask":
        dataset = dataset.map(model_lib.with_sample_weights, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def label_counts(dataset: tf.data.Dataset) -> np.ndarray:
    """All training labels as one array (one pass; the label column is small)."""
    labels = []
    for batch in dataset:
        y = batch[1]
        y = y["risk"] if isinstance(y, dict) else y
        labels.append(y.numpy().reshape(-1))
    return np.concatenate(labels).astype(int) if labels else np.zeros(0, dtype=int)


def serving_function(model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput):
    """A tf.function from serialized tf.Examples (no label) to {"risk": [batch, 1]}."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()
    for key in (F.LABEL_KEY, F.SCORE_KEY):
        raw_spec.pop(key, None)

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(serialized, raw_spec)
        transformed = model.tft_layer(parsed)
        inputs = {k: transformed[k] for k in model.input_names}
        outputs = model(inputs, training=False)
        risk = outputs["risk"] if isinstance(outputs, dict) else outputs
        return {"risk": risk}

    return serve


RAW_FEATURES_SIGNATURE = F.RAW_FEATURES_SIGNATURE


def raw_features_function(model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput):
    """A tf.function from named raw feature tensors to {"risk": [batch, 1]}: the JSON-friendly signature.

    TF Serving's REST API can only hand a serialized-example signature base64 protos, so JSON
    clients (`{"instances": [{"logins": [...], "course_id": "C-PY101", ...}]}`) call this one. Inputs
    are the model's raw features only: per-day keys float32 ``[batch, window_days]``, categorical
    context strings ``[batch]``, numeric context float32 ``[batch]``. Identifiers and fairness
    attributes are not inputs; the Transform graph gets neutral placeholders for them.
    """
    if not hasattr(model, "tft_layer"):
        model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()
    specs: dict[str, tf.TensorSpec] = {}
    for key in F.sequence_keys():
        specs[key] = tf.TensorSpec([None, *raw_spec[key].shape], tf.float32, name=key)
    for key in F.CATEGORICAL_CONTEXT:
        specs[key] = tf.TensorSpec([None], tf.string, name=key)
    for key in F.NUMERIC_CONTEXT:
        specs[key] = tf.TensorSpec([None], tf.float32, name=key)
    unused = {k: v for k, v in raw_spec.items() if k not in specs and k not in (F.LABEL_KEY, F.SCORE_KEY)}

    @tf.function(input_signature=[specs])
    def serve_raw(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        batch = tf.shape(features[F.CATEGORICAL_CONTEXT[0]])[0]
        raw = {k: tf.cast(v, raw_spec[k].dtype) for k, v in features.items()}
        for key, spec in unused.items():
            shape = tf.concat([[batch], tf.constant(list(spec.shape), tf.int32)], 0)
            raw[key] = tf.fill(shape, tf.constant("" if spec.dtype == tf.string else 0, spec.dtype))
        transformed = model.tft_layer(raw)
        outputs = model({k: transformed[k] for k in model.input_names}, training=False)
        return {"risk": outputs["risk"] if isinstance(outputs, dict) else outputs}

    return serve_raw


def export_signatures(model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput) -> dict[str, Any]:
    """Every signature the pushed model carries (serving/ and the early-warning job rely on both)."""
    return {
        SERVING_SIGNATURE: serving_function(model, tf_transform_output),
        RAW_FEATURES_SIGNATURE: raw_features_function(model, tf_transform_output),
    }


def _is_chief(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer entry point. ``custom_config`` carries ``model`` (ModelSettings fields) and ``window_days``."""
    config = fn_args.custom_config or {}
    settings = ModelSettings(**config.get("model", {}))
    window_days = int(config.get("window_days", 10))
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)

    strategy = model_lib.choose_strategy(settings.strategy)
    logging.info("training with %s", json.dumps(model_lib.strategy_description(strategy)))
    global_batch = settings.batch_size * strategy.num_replicas_in_sync

    train = input_dataset(
        fn_args.train_files, fn_args.data_accessor, tf_transform_output, global_batch, settings.architecture
    )
    evaluation = input_dataset(
        fn_args.eval_files, fn_args.data_accessor, tf_transform_output, global_batch, settings.architecture
    )
    weights = model_lib.class_weights(label_counts(train))
    vocab_sizes = {key: tf_transform_output.vocabulary_size_by_name(key) for key in F.CATEGORICAL_CONTEXT}

    with strategy.scope():
        model = model_lib.build_model(settings, window_days, vocab_sizes)
    log_dir = fn_args.model_run_dir
    history = model.fit(
        train,
        validation_data=evaluation,
        epochs=settings.epochs,
        steps_per_epoch=settings.train_steps or None,
        validation_steps=settings.eval_steps or None,
        class_weight=weights if settings.architecture != "multitask" else None,
        callbacks=model_lib.make_callbacks(log_dir, settings.early_stopping_patience),
        verbose=2,
    )
    tf.io.gfile.makedirs(log_dir)
    with tf.io.gfile.GFile(os.path.join(log_dir, "history.json"), "w") as fh:
        json.dump(
            {
                "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
                "class_weights": {str(k): float(v) for k, v in weights.items()},
                "strategy": model_lib.strategy_description(strategy),
                "model": config.get("model", {}),
            },
            fh,
            indent=2,
        )

    signatures = export_signatures(model, tf_transform_output)
    # Under MultiWorkerMirroredStrategy every worker saves; only the chief's copy is the model.
    target = fn_args.serving_model_dir if _is_chief(strategy) else tempfile.mkdtemp(prefix="worker-model-")
    model.save(target, save_format="tf", signatures=signatures)
