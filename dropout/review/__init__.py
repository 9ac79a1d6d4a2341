"""What data stewards and managers read and decide in the training DAG, and the records of it.

``records`` (one folder per run: why it ran, each decision), ``report`` (the anomaly table every
review shows), ``data_review`` (the steward's anomaly report and decision), ``approval`` (the
manager's candidate-against-champion summary and decision). ``python -m dropout.review`` is what the
Airflow tasks run in the TFX environment.
"""
