"""
### Dropout-risk training

One Airflow task per node of the TFX pipeline (task id = TFX node id, same edges, generated from
`dags/pipeline_graph.json`); one DAG run is one TFX pipeline run (the Airflow run id is the TFX run id).
Every TFX task runs in the TFX virtualenv as a subprocess and takes the single slot of the
`tfx_metadata` pool (SQLite ML Metadata).

People in the loop:

* **Data stewards** review a span's schema and drift anomalies after ExampleValidator and
  DistributionValidator (report under `<pipeline root>/reviews/<run id>/`): accept and update the
  schema (a reviewed version under `schemas/versions/`), accept once, or reject the batch (nothing
  downstream runs). No anomalies, no pause. Transform waits for the outcome.
* **Managers** approve a candidate the FairnessGate blessed before Pusher runs; no answer within the
  timeout rejects it. An unblessed candidate needs no approval (Pusher pushes nothing).

Runs weekly and whenever the drift monitor emits `dropout/drift`. Params (or `dag_run.conf`):
`span` (ingestion period), `config` (settings file relative to the repository), `reason`.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag
from dropout_airflow import assets, policy
from dropout_airflow import tracking as mlflow_tracking
from dropout_airflow import training as steps
from dropout_airflow.graph import load_graph
from dropout_airflow.tfx import TfxNodeOperator

from dropout.contract import decisions

# Span and settings file as resolved by run_context (params, dag_run.conf or the drift event).
SPAN = "{{ ti.xcom_pull(task_ids='run_context')['span'] }}"
CONFIG = "{{ ti.xcom_pull(task_ids='run_context')['config'] }}"
# Pusher runs after the manager's approval or when no approval is needed (one of the two is skipped).
NODE_ARGS = {"Pusher": {"trigger_rule": "none_failed_min_one_success"}}


@dag(
    dag_id="dropout_training",
    doc_md=__doc__,
    tags=["dropout", "training", "tfx"],
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 3 * * 1", timezone="UTC"), assets=assets.DRIFT
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one TFX run at a time: "previous span" and the champion are run-ordered
    default_args={"retries": 2, "retry_delay": policy.retry_delay(pendulum.duration(minutes=1))},
    params={
        "span": Param(0, type="integer", minimum=0, description="ingestion period to train on"),
        "config": Param("config/default.toml", type="string", description="settings file"),
        "reason": Param(
            decisions.MANUAL, enum=list(decisions.RUN_REASONS), description="why this run (manual runs)"
        ),
    },
)
def dropout_training():
    ctx = steps.run_context()

    graph = load_graph()
    nodes = {
        node_id: TfxNodeOperator(
            node_id=node_id,
            config=CONFIG,
            span=SPAN,
            **NODE_ARGS.get(node_id, {}),
        )
        for node_id in graph.nodes
    }
    for upstream, downstream in graph.edges:
        nodes[upstream] >> nodes[downstream]
    for root in graph.roots:
        ctx >> nodes[root]

    # Data steward review between the data checks and Transform.
    report = steps.anomaly_report(ctx)
    [nodes["ExampleValidator"], nodes["DistributionValidator"]] >> report
    steward_review = HITLOperator(
        task_id="steward_review",
        subject="Span "
        + SPAN
        + ": {{ ti.xcom_pull(task_ids='anomaly_report')['anomalies'] }} anomalies to review",
        body="{{ ti.xcom_pull(task_ids='anomaly_report')['body'] }}",
        options=list(decisions.STEWARD_OPTIONS),
        defaults=decisions.STEWARD_DEFAULT,
        response_timeout=decisions.STEWARD_TIMEOUT,
        assigned_users=policy.hitl_users(policy.STEWARDS),
    )
    no_anomalies = EmptyOperator(task_id="no_anomalies")
    reviewed = steps.data_review(ctx)
    steps.check_anomalies(report) >> [steward_review, no_anomalies] >> reviewed >> nodes["Transform"]

    # Manager approval between FairnessGate and Pusher.
    summary = steps.candidate_summary(ctx)
    nodes["FairnessGate"] >> summary
    manager_approval = HITLOperator(
        task_id="manager_approval",
        subject="Push the span " + SPAN + " candidate?",
        body="{{ ti.xcom_pull(task_ids='candidate_summary')['body'] }}",
        options=list(decisions.APPROVAL_OPTIONS),
        defaults=decisions.APPROVAL_DEFAULT,
        response_timeout=decisions.APPROVAL_TIMEOUT,
        assigned_users=policy.hitl_users(policy.MANAGERS),
    )
    no_approval_needed = EmptyOperator(task_id="no_approval_needed")
    approved = steps.approval_decision(ctx)
    steps.check_blessing(summary) >> [manager_approval, no_approval_needed]
    manager_approval >> approved
    [approved, no_approval_needed] >> nodes["Pusher"]

    # MLflow: one run per DAG run, recorded before anyone is asked (challenger when blessed); the
    # champion alias moves after Pusher only when the manager approved and the push happened.
    recorded = mlflow_tracking.track_candidate(ctx)
    nodes["FairnessGate"] >> recorded >> [manager_approval, no_approval_needed]
    nodes["Pusher"] >> mlflow_tracking.track_promotion(ctx)


dropout_training()
