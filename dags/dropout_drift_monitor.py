"""
### Dropout-risk drift monitor

Daily: compares the newest complete span of landing data with the champion (the latest pushed model):

* **data drift**: the span's statistics against those of the span the champion was trained on, with the
  curated schema's drift comparators (Jensen-Shannon divergence for numeric, L-infinity for categorical
  features; the same thresholds as the training run's DistributionValidator);
* **concept drift**: the champion's AUC and F1 on the span's newly labelled learners against its
  evaluation at promotion (params `max_auc_drop`, `max_f1_drop`).

Either beyond its thresholds emits the `dropout/drift` asset event with `extra={"span": N, "reason": ...}`,
which triggers `dropout_training` on that span; otherwise `no_retrain_needed` records why. Report:
`<pipeline root>/drift_monitor/span-N/drift.json`; each decision is also recorded in MLflow.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag
from dropout_airflow import monitoring as steps
from dropout_airflow import policy
from dropout_airflow import tracking as mlflow_tracking


@dag(
    dag_id="dropout_drift_monitor",
    doc_md=__doc__,
    tags=["dropout", "monitoring", "drift"],
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": policy.retry_delay(pendulum.duration(minutes=5))},
    params={
        "config": Param("config/default.toml", type="string", description="settings file"),
        "span": Param(
            None, type=["null", "integer"], description="span to check (default: the newest complete)"
        ),
        "max_auc_drop": Param(
            0.05, type="number", minimum=0, description="concept drift: AUC drop vs promotion"
        ),
        "max_f1_drop": Param(
            0.1, type="number", minimum=0, description="concept drift: F1 drop vs promotion"
        ),
    },
)
def dropout_drift_monitor():
    result = steps.drift_check()
    # Every check is an MLflow run in the model's experiment, the decision not to retrain included.
    mlflow_tracking.track_monitor_decision(result)
    steps.drift_found(result) >> [steps.emit_drift(result), steps.no_retrain_needed(result)]


dropout_drift_monitor()
