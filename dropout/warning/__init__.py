"""The early-warning job: score active learners with the champion, explain, act, record outcomes.

Plain functions: ``examples`` (serving examples from the newest landing data, through the same
ingestion as training), ``scoring`` (risk and integrated-gradients attributions from the pushed
model), ``reasons`` (plain-language reasons from attributions and the learner's own data),
``store`` (risk lists and interventions in SQLite, a CSV per run), ``actions`` (e-mail and webhook
interventions), ``job`` (one run end to end). ``python -m dropout.warning`` is the entry point the
Airflow DAG ``dropout_early_warning`` calls.
"""
