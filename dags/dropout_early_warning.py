"""
### Dropout-risk early warning

Daily by default (`DROPOUT_EARLY_WARNING_SCHEDULE=@hourly` for hourly; read when the file is parsed):

1. **score**: builds serving examples for the active learners from the newest landing data with the
   training ingestion in its SERVING mode, scores them with the champion (the newest pushed model),
   flags learners at or above `evaluation.threshold` and the top `evaluation.top_fraction`, explains
   each flagged learner in plain language (integrated gradients on the sequence model), writes the
   risk list to `<warning.out_dir>/risk.sqlite` and `runs/risk-<run id>.csv`, and the TFDV statistics
   of the serving examples. Nothing is sent yet.
2. **skew_report**: compares those statistics with the champion's training statistics (the
   StatisticsGen output of the TFX run that pushed it, found in ML Metadata) by the skew comparators
   of that run's schema; report `runs/skew-<run id>.json|html`.
3. **Data stewards** review skew (human in the loop, only when there is skew): *Act on scores* or
   *Hold interventions* (also the default after 12 hours). No skew, no pause.
4. **interventions**: the actions configured per risk band (`warning.high_actions`,
   `warning.top_actions`: SMTP e-mail to the learner or course staff, webhook), each recorded; on hold
   nothing is sent and the run records who held it and why.
5. **outcomes**: for interventions older than `warning.outcome_days`, records whether the learner came
   back (any accepted activity in those days), for joining into later training data.

Every step runs in the TFX environment (`python -m dropout.warning ...`); see `dropout/warning/` and
`dags/dropout_airflow/warning.py`.
"""

from __future__ import annotations

import os

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param, dag
from dropout_airflow import policy
from dropout_airflow import warning as steps

from dropout.contract import decisions

SCHEDULE = os.environ.get("DROPOUT_EARLY_WARNING_SCHEDULE", "@daily")


@dag(
    dag_id="dropout_early_warning",
    doc_md=__doc__,
    tags=["dropout", "serving", "early-warning"],
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": policy.retry_delay(pendulum.duration(minutes=5))},
    params={
        "config": Param("config/default.toml", type="string", description="settings file"),
        "as_of": Param(
            None, type=["null", "string"], description="last landing day to score (default: newest)"
        ),
    },
)
def dropout_early_warning():
    report = steps.skew_report(steps.score())
    steward_review = HITLOperator(
        task_id="steward_review",
        subject="Early warning {{ run_id }}: {{ ti.xcom_pull(task_ids='skew_report')['anomalies'] }} features "
        "skewed against the champion's training data; act on the scores?",
        body="{{ ti.xcom_pull(task_ids='skew_report')['body'] }}",
        options=list(decisions.SKEW_OPTIONS),
        defaults=decisions.SKEW_REVIEW_DEFAULT,
        response_timeout=decisions.SKEW_REVIEW_TIMEOUT,
        assigned_users=policy.hitl_users(policy.STEWARDS),
    )
    no_skew = EmptyOperator(task_id="no_skew")
    steps.check_skew(report) >> [steward_review, no_skew] >> steps.interventions() >> steps.outcomes()


dropout_early_warning()
