"""
### Dropout-risk drift monitor

Daily: compares the newest complete span of landing data with the span the last model was trained on,
using the curated schema's drift comparators (the same thresholds as the training run's
DistributionValidator). Drift beyond them emits the `dropout/drift` asset event with
`extra={"span": N, ...}`, which triggers `dropout_training` on that span. Report:
`<pipeline root>/drift_monitor/span-N/drift.json`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag
from dropout_airflow import steps


@dag(
    dag_id="dropout_drift_monitor",
    doc_md=__doc__,
    tags=["dropout", "monitoring", "drift"],
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5)},
    params={"config": Param("config/default.toml", type="string", description="settings file")},
)
def dropout_drift_monitor():
    result = steps.drift_check()
    steps.drift_found(result) >> steps.emit_drift(result)


dropout_drift_monitor()
