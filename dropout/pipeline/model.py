"""The dropout-risk model: Keras architectures, class weights, distribution strategy and callbacks.

Plain functions on transformed features (see ``dropout.contract.features``); no TFX imports, so tests and
notebooks build and train the model without a pipeline. ``dropout.pipeline.trainer.run_fn`` calls them.

Model inputs, one Keras ``Input`` per transformed feature, named ``transformed_name(key)``:

- each ``SEQUENCE_FEATURES`` key: float32 ``[batch, window_days]``, z-scored, oldest day first;
- ``active_mask_xf`` and ``enrolled_mask_xf``: float32 ``[batch, window_days]``, 0 or 1;
- each ``CATEGORICAL_CONTEXT`` key: int64 ``[batch]``, a vocabulary index where index == vocabulary
  size is the out-of-vocabulary bucket;
- each ``NUMERIC_CONTEXT`` key: float32 ``[batch]``, z-scored.

Fairness attributes and learner ids are never inputs. Every architecture has an output ``risk``
(probability of dropping out, ``[batch, 1]``); ``multitask`` adds ``final_score`` (the 0..100 score
scaled to 0..1).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf
import tf_keras as keras

from dropout.contract import features as F
from dropout.contract.settings import ModelSettings

ARCHITECTURES: tuple[str, ...] = ("lstm", "attention", "multitask")
STRATEGIES: tuple[str, ...] = ("auto", "default", "mirrored", "multi_worker")

RISK_OUTPUT = F.RISK_OUTPUT
SCORE_OUTPUT = "final_score"
SCORE_LOSS_WEIGHT = 0.2  # the score head regularises the shared body; risk stays the objective
MAX_EMBEDDING_DIM = 8


def sequence_input_names() -> tuple[str, ...]:
    """Transformed names of the per-day inputs: the eight behaviour features, then the two masks."""
    return tuple(F.transformed_name(k) for k in (*F.SEQUENCE_FEATURES, *F.MASK_FEATURES))


def input_names() -> tuple[str, ...]:
    """Transformed names of every model input, in the order the model declares them."""
    context = (*F.CATEGORICAL_CONTEXT, *F.NUMERIC_CONTEXT)
    return (*sequence_input_names(), *(F.transformed_name(k) for k in context))


def embedding_dim(vocab_size: int) -> int:
    """Embedding width for a vocabulary: about its square root, between 2 and 8."""
    return min(MAX_EMBEDDING_DIM, max(2, math.ceil(math.sqrt(vocab_size + 1))))


@keras.saving.register_keras_serializable(package="dropout")
class MaskedAttentionPooling(keras.layers.Layer):
    """Additive attention over days: a weighted mean of LSTM states, weights ~ softmax(v . tanh(W h_t)).

    Call on ``[states, enrolled]`` (``[batch, days, units]`` and ``[batch, days]``). Days with
    enrolled <= 0.5 get weight exactly 0; a learner with no enrolled day pools to zeros.
    """

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True  # the incoming LSTM mask is superseded by the explicit one
        self.hidden = keras.layers.Dense(units, activation="tanh", name="score_hidden")
        self.score = keras.layers.Dense(1, use_bias=False, name="score")

    def call(self, inputs: list[tf.Tensor], mask: Any = None) -> tf.Tensor:
        states, enrolled = inputs
        keep = enrolled > 0.5
        logits = tf.squeeze(self.score(self.hidden(states)), axis=-1)
        logits = tf.where(keep, logits, tf.fill(tf.shape(logits), tf.constant(-1e9, logits.dtype)))
        weights = tf.nn.softmax(logits, axis=-1) * tf.cast(keep, logits.dtype)
        weights = weights / tf.maximum(tf.reduce_sum(weights, axis=-1, keepdims=True), 1e-9)
        return tf.reduce_sum(states * weights[..., tf.newaxis], axis=1)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None  # the time axis is pooled away

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


def _inputs(window_days: int) -> dict[str, keras.Input]:
    inputs: dict[str, keras.Input] = {}
    for name in sequence_input_names():
        inputs[name] = keras.Input(shape=(window_days,), dtype=tf.float32, name=name)
    for key in F.CATEGORICAL_CONTEXT:
        name = F.transformed_name(key)
        inputs[name] = keras.Input(shape=(), dtype=tf.int64, name=name)
    for key in F.NUMERIC_CONTEXT:
        name = F.transformed_name(key)
        inputs[name] = keras.Input(shape=(), dtype=tf.float32, name=name)
    return inputs


def _sequence(inputs: dict[str, keras.Input], window_days: int) -> tuple[tf.Tensor, tf.Tensor]:
    """[batch, days, 9] (8 features + active mask) and the boolean enrolled mask [batch, days]."""
    keys = (*F.SEQUENCE_FEATURES, F.ACTIVE_MASK_KEY)
    columns = [
        keras.layers.Reshape((window_days, 1), name=f"day_{key}")(inputs[F.transformed_name(key)])
        for key in keys
    ]
    sequence = keras.layers.Concatenate(axis=-1, name="days")(columns)
    # Days before enrolment are padding; enrolled-but-inactive days stay in (inactivity is signal).
    enrolled = tf.math.greater(inputs[F.transformed_name(F.ENROLLED_MASK_KEY)], 0.5)
    return sequence, enrolled


def _context(inputs: dict[str, keras.Input], vocab_sizes: Mapping[str, int]) -> list[tf.Tensor]:
    parts = []
    for key in F.CATEGORICAL_CONTEXT:
        size = int(vocab_sizes[key])
        embedded = keras.layers.Embedding(size + 1, embedding_dim(size), name=f"embed_{key}")(
            inputs[F.transformed_name(key)]
        )
        parts.append(embedded)
    for key in F.NUMERIC_CONTEXT:
        parts.append(keras.layers.Reshape((1,), name=f"context_{key}")(inputs[F.transformed_name(key)]))
    return parts


def risk_metrics() -> list[keras.metrics.Metric]:
    """Metrics tracked on the risk output (fresh objects: a metric belongs to one model)."""
    return [
        keras.metrics.AUC(name="auc"),
        keras.metrics.AUC(curve="PR", name="pr_auc"),
        keras.metrics.Precision(thresholds=0.5, name="precision"),
        keras.metrics.Recall(thresholds=0.5, name="recall"),
    ]


def build_model(model: ModelSettings, window_days: int, vocab_sizes: Mapping[str, int]) -> keras.Model:
    """Build and compile the architecture named by ``model.architecture``.

    Args:
        model: lstm_units, dropout, dense_units, learning_rate and architecture are used.
        window_days: days per example sequence (the time axis of every per-day input).
        vocab_sizes: vocabulary size (without the OOV bucket) per ``CATEGORICAL_CONTEXT`` key.

    Returns:
        A compiled functional model. ``lstm`` and ``attention`` return the ``risk`` tensor
        ``[batch, 1]``; ``multitask`` returns ``{"risk": ..., "final_score": ...}`` and expects
        per-output sample weights from :func:`sample_weights` (unknown scores weigh 0).

    Raises:
        ValueError: for an unknown architecture, window_days < 1, or a missing/invalid vocabulary size.
    """
    if model.architecture not in ARCHITECTURES:
        raise ValueError(
            f"model.architecture '{model.architecture}' is unknown; choose one of {', '.join(ARCHITECTURES)}"
        )
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    missing = [k for k in F.CATEGORICAL_CONTEXT if k not in vocab_sizes]
    if missing:
        raise ValueError(f"vocab_sizes lacks {missing}; pass the Transform vocabulary size of each of them")
    bad = {k: vocab_sizes[k] for k in F.CATEGORICAL_CONTEXT if int(vocab_sizes[k]) < 0}
    if bad:
        raise ValueError(f"vocab_sizes must be >= 0, got {bad}")

    inputs = _inputs(window_days)
    sequence, enrolled = _sequence(inputs, window_days)
    if model.architecture == "attention":
        states = keras.layers.LSTM(model.lstm_units, return_sequences=True, name="lstm")(
            sequence, mask=enrolled
        )
        body = MaskedAttentionPooling(model.lstm_units, name="attention")(
            [states, inputs[F.transformed_name(F.ENROLLED_MASK_KEY)]]
        )
    else:
        body = keras.layers.LSTM(model.lstm_units, name="lstm")(sequence, mask=enrolled)
    body = keras.layers.Dropout(model.dropout, name="lstm_dropout")(body)
    joined = keras.layers.Concatenate(name="body_and_context")([body, *_context(inputs, vocab_sizes)])
    hidden = keras.layers.Dense(model.dense_units, activation="relu", name="hidden")(joined)
    risk = keras.layers.Dense(1, activation="sigmoid", name=RISK_OUTPUT)(hidden)

    optimizer = keras.optimizers.Adam(model.learning_rate)
    if model.architecture != "multitask":
        built = keras.Model(inputs=inputs, outputs=risk, name=f"dropout_risk_{model.architecture}")
        built.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy(), metrics=risk_metrics())
        return built

    score = keras.layers.Dense(1, name=SCORE_OUTPUT)(hidden)
    built = keras.Model(
        inputs=inputs, outputs={RISK_OUTPUT: risk, SCORE_OUTPUT: score}, name="dropout_risk_multitask"
    )
    built.compile(
        optimizer=optimizer,
        loss={RISK_OUTPUT: keras.losses.BinaryCrossentropy(), SCORE_OUTPUT: keras.losses.MeanSquaredError()},
        loss_weights={RISK_OUTPUT: 1.0, SCORE_OUTPUT: SCORE_LOSS_WEIGHT},
        metrics={RISK_OUTPUT: risk_metrics()},
    )
    return built


def sample_weights(
    targets: Mapping[str, Any], class_weight: Mapping[int, float] | None = None
) -> dict[str, tf.Tensor]:
    """Per-output sample weights for the multitask model.

    Keras does not apply ``class_weight`` to multi-output models, so class weights (if given) are
    folded into the risk weights here.

    Args:
        targets: ``{"risk": labels 0/1, "final_score": score in 0..1 or -1 when unknown}``, each
            ``[batch]`` or ``[batch, 1]`` (tensors or arrays).
        class_weight: optional ``{0: w0, 1: w1}`` from :func:`class_weights`.

    Returns:
        ``{"risk": float32 [batch], "final_score": float32 [batch]}``; an unknown (negative) score
        weighs 0, so it adds nothing to the MSE.
    """
    label = tf.reshape(tf.cast(targets[RISK_OUTPUT], tf.float32), [-1])
    score = tf.reshape(tf.cast(targets[SCORE_OUTPUT], tf.float32), [-1])
    if class_weight is None:
        risk_weight = tf.ones_like(label)
    else:
        risk_weight = tf.where(label > 0.5, float(class_weight[1]), float(class_weight[0]))
    return {RISK_OUTPUT: risk_weight, SCORE_OUTPUT: tf.cast(score >= 0.0, tf.float32)}


def with_sample_weights(
    features: Any, targets: Mapping[str, Any], class_weight: Mapping[int, float] | None = None
) -> tuple[Any, Mapping[str, Any], dict[str, tf.Tensor]]:
    """``tf.data`` map function: ``(features, targets)`` -> ``(features, targets, sample_weights)``."""
    return features, targets, sample_weights(targets, class_weight)


def class_weights(labels: np.ndarray) -> dict[int, float]:
    """Balanced class weights ``n / (2 * n_class)`` so the minority class counts as much as the majority.

    Raises:
        ValueError: when labels are not 0/1 or one class is absent (weights would be infinite).
    """
    flat = np.asarray(labels).reshape(-1)
    if flat.size and not np.isin(flat, (0, 1)).all():
        odd = sorted({float(v) for v in flat[~np.isin(flat, (0, 1))]})[:5]
        raise ValueError(f"class_weights: labels must be 0 or 1, found {odd}")
    n = flat.size
    counts = {c: int(np.sum(flat == c)) for c in (0, 1)}
    absent = [c for c, k in counts.items() if k == 0]
    if absent:
        raise ValueError(
            f"class_weights: no examples of class {absent} among {n} training labels "
            f"(counts {counts}); balanced weights need both classes - check the label column and the split"
        )
    return {c: n / (2.0 * k) for c, k in counts.items()}


def _parse_tf_config(tf_config: str | None) -> dict[str, Any]:
    if not tf_config:
        return {}
    try:
        parsed = json.loads(tf_config)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON ({exc}): {tf_config[:200]!r}") from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object, got {type(parsed).__name__}")
    return parsed


def cluster_size(tf_config: str | None) -> int:
    """Number of training tasks (chief + workers) a TF_CONFIG names; 0 when it names no cluster."""
    cluster = _parse_tf_config(tf_config).get("cluster", {})
    return sum(len(cluster.get(job, [])) for job in ("chief", "worker"))


def resolve_strategy_name(name: str, tf_config: str | None, local_devices: int) -> str:
    """The concrete strategy ``name`` stands for; ``auto`` picks by cluster size, then local devices.

    Args:
        name: one of ``STRATEGIES``.
        tf_config: the TF_CONFIG JSON (or None).
        local_devices: GPUs visible here, or the number of explicitly given devices.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown distribution strategy '{name}'; choose one of {', '.join(STRATEGIES)}")
    if name != "auto":
        return name
    if cluster_size(tf_config) > 1:
        return "multi_worker"
    if local_devices > 1:
        return "mirrored"
    return "default"


def _cluster_resolver(config: dict[str, Any], gpus: int) -> tf.distribute.cluster_resolver.ClusterResolver:
    task = config.get("task") or {}
    if "type" not in task or "index" not in task:
        raise ValueError(
            f"TF_CONFIG names a cluster but no task {{'type', 'index'}}: {json.dumps(config)[:200]}"
        )
    return tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(config["cluster"]),
        task_type=str(task["type"]),
        task_id=int(task["index"]),
        rpc_layer=config.get("rpc_layer", "grpc"),
        num_accelerators={"GPU": gpus},
    )


def choose_strategy(
    name: str, tf_config: str | None = None, devices: list[str] | None = None
) -> tf.distribute.Strategy:
    """Create the tf.distribute strategy for training.

    ``multi_worker`` must be created before TensorFlow runs any op in the process (collective ops
    are configured at start-up), so call this first thing in a worker.

    Args:
        name: ``default`` (no distribution), ``mirrored`` (one machine, several devices),
            ``multi_worker`` (MultiWorkerMirroredStrategy over the TF_CONFIG cluster) or ``auto``
            (multi_worker when TF_CONFIG names more than one task, mirrored when more than one GPU
            or given device, else default).
        tf_config: TF_CONFIG JSON; when None the ``TF_CONFIG`` environment variable is read, since
            that is how cluster managers (Kubernetes TFJob, Vertex AI) describe the cluster.
        devices: devices for ``mirrored``, e.g. ``["/cpu:0", "/cpu:1"]``; default: all visible
            GPUs, or the CPU when there is none.

    Raises:
        ValueError: for an unknown name (listing the choices) or a TF_CONFIG without a task.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown distribution strategy '{name}'; choose one of {', '.join(STRATEGIES)}")
    if tf_config is None:
        tf_config = os.environ.get("TF_CONFIG")
    gpus = len(tf.config.list_physical_devices("GPU"))
    resolved = resolve_strategy_name(name, tf_config, len(devices) if devices else gpus)

    if resolved == "default":
        return tf.distribute.get_strategy()
    if resolved == "mirrored":
        if devices:
            return tf.distribute.MirroredStrategy(devices=list(devices))
        return tf.distribute.MirroredStrategy() if gpus else tf.distribute.MirroredStrategy(["/cpu:0"])
    config = _parse_tf_config(tf_config)
    if not config.get("cluster"):
        return tf.distribute.MultiWorkerMirroredStrategy()  # a single local worker
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=_cluster_resolver(config, gpus))


def strategy_description(strategy: tf.distribute.Strategy) -> dict[str, Any]:
    """A JSON-able summary for run tracking: class, replicas in sync, devices (and task when clustered)."""
    try:
        devices = list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy places ops with TF's placer: first GPU, else CPU
        first = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        devices = [first[0].name] if first else []
    description: dict[str, Any] = {
        "class": type(strategy).__name__,
        "replicas": int(strategy.num_replicas_in_sync),
        "devices": devices,
    }
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and resolver.task_type:
        description["task"] = {"type": resolver.task_type, "index": resolver.task_id}
        description["cluster"] = resolver.cluster_spec().as_dict()
    return description


class RiskEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping on the risk AUC whatever the architecture.

    A multi-output model prefixes metric names with the output name (``val_risk_auc``), so when the
    monitored name is absent its ``risk_`` form is used instead.
    """

    def get_monitor_value(self, logs: dict[str, Any] | None) -> Any:
        logs = logs or {}
        if self.monitor not in logs and self.monitor.startswith("val_"):
            prefixed = f"val_{RISK_OUTPUT}_{self.monitor[len('val_') :]}"
            if prefixed in logs:
                return logs[prefixed]
        return super().get_monitor_value(logs)


def make_callbacks(log_dir: str, patience: int, monitor: str = "val_auc") -> list[keras.callbacks.Callback]:
    """Early stopping on validation risk AUC (restoring the best weights) and TensorBoard logs in log_dir."""
    return [
        RiskEarlyStopping(monitor=monitor, mode="max", patience=patience, restore_best_weights=True),
        keras.callbacks.TensorBoard(log_dir=log_dir),
    ]
