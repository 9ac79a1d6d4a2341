"""The MLflow model of a retrain: the pushed SavedModel itself, behind MLflow's pyfunc interface.

Logged as an MLflow "model from code" (``aliases.log_and_register``): MLflow runs this file when the
model is loaded (``mlflow.pyfunc.load_model(uri)``), and ``predict`` calls the SavedModel's
``raw_features`` signature, the same model the Pusher deployed and TF Serving serves, without re-saving
it (re-tracing a Keras model for MLflow's TensorFlow flavour cost 25-35 s per retrain).

``predict`` takes a dict of raw feature arrays (per-day features ``[n, window_days]``, context ``[n]``)
or a DataFrame with one column per feature (per-day features as lists) and returns the risk, ``[n]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel


class ServedModel(PythonModel):
    def load_context(self, context: Any) -> None:
        import tensorflow as tf

        self._loaded = tf.saved_model.load(context.artifacts["saved_model"])
        self._predict = self._loaded.signatures["raw_features"]
        self._inputs = self._predict.structured_input_signature[1]

    def predict(self, context, model_input, params=None):  # untyped: MLflow reads type hints as a signature

        import tensorflow as tf

        columns = {k: model_input[k] for k in self._inputs}
        tensors = {}
        for name, spec in self._inputs.items():
            values = np.asarray(
                list(columns[name]) if not isinstance(columns[name], np.ndarray) else columns[name]
            )
            if spec.dtype == tf.string:
                values = values.astype(object).astype(bytes)
            tensors[name] = tf.constant(values, dtype=spec.dtype)
        return self._predict(**tensors)["risk"].numpy().reshape(-1)


set_model(ServedModel())
