"""The model registry: one MLflow run per retrain and per drift check, the ``challenger`` / ``champion`` aliases.

``connection`` (server, retries, tags), ``record`` (what a pipeline run produced, as one MLflow run),
``aliases`` (register, promote, roll back), ``plots`` (ROC, PR, calibration images).
``python -m dropout.registry`` is what the Airflow tracking tasks run in the TFX environment.
"""
