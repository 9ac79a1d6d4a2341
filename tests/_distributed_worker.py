"""One training process for tests/test_distributed.py (run as a script, never collected by pytest).

Distribution has to be configured before TensorFlow initialises its runtime (logical CPU devices,
collective ops), which a pytest process that already imported TF cannot do, so each scenario runs
here in a fresh interpreter and writes a JSON result for the test to check.

Run from the repository root with it on PYTHONPATH:

    python tests/_distributed_worker.py --mode mirrored --result out.json
    python tests/_distributed_worker.py --mode multi_worker --tf-config '{...}' --model-dir D --result out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import _synthetic  # beside this script, which is sys.path[0]
import tensorflow as tf
import tf_keras as keras

from dropout.contract.settings import ModelSettings
from dropout.pipeline import model as model_lib  # importing runs no TF op, so device set-up can follow

N_EXAMPLES = 384
GLOBAL_BATCH = 64
EPOCHS = 3
PROBE = 16  # examples whose predictions the chief reports, to compare with the saved model


def _dataset(features, labels) -> tf.data.Dataset:
    options = tf.data.Options()
    # Every worker builds the same in-memory data; DATA sharding gives each a disjoint half.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(GLOBAL_BATCH).with_options(options)


def _loss(model: keras.Model, features, labels) -> float:
    risk = model(features, training=False)
    return float(keras.losses.BinaryCrossentropy()(labels.reshape(-1, 1).astype("float32"), risk))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("mirrored", "multi_worker"), required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--tf-config")
    parser.add_argument("--model-dir")
    args = parser.parse_args(argv)

    if args.mode == "mirrored":
        # Two logical CPUs stand in for two GPUs; must happen before the runtime starts.
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
        )
        strategy = model_lib.choose_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    else:
        strategy = model_lib.choose_strategy("multi_worker", tf_config=args.tf_config)

    keras.utils.set_random_seed(11)  # same initial weights and data in every worker
    features, labels, _ = _synthetic.learners(N_EXAMPLES, seed=5)
    data = _dataset(features, labels.astype("float32"))
    settings = ModelSettings(lstm_units=16, dense_units=8, dropout=0.1, learning_rate=1e-2)
    with strategy.scope():
        model = model_lib.build_model(settings, _synthetic.WINDOW_DAYS, _synthetic.VOCAB_SIZES)

    # Full-data loss by direct (eager) calls: no extra traced function, and every worker sees it all.
    loss_before = _loss(model, features, labels)
    history = model.fit(data, epochs=EPOCHS, verbose=0)
    loss_after = _loss(model, features, labels)

    description = model_lib.strategy_description(strategy)
    result = {
        "mode": args.mode,
        "replicas": strategy.num_replicas_in_sync,
        "strategy": description,
        "loss_before": loss_before,
        "loss_after": loss_after,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
    }
    if args.model_dir:
        task = description.get("task", {"type": "worker", "index": 0})
        chief = task["type"] == "chief" or (task["type"] == "worker" and task["index"] == 0)
        # Every worker must save (saving runs collectives); only the chief's copy is kept.
        target = os.path.join(args.model_dir, "model" if chief else f"scratch-{task['type']}-{task['index']}")
        model.save(target, save_format="tf")
        probe = {k: v[:PROBE] for k, v in features.items()}
        result.update(
            chief=chief, saved=target, probe_risk=model(probe, training=False).numpy().ravel().tolist()
        )

    with open(args.result, "w") as fh:
        json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
