#!/usr/bin/env bash
# The main job through Airflow: run the training DAG end to end on spans 0 and 1, answering its
# human-in-the-loop reviews with an explicit, logged DEMO POLICY through the REST API:
#   steward (anomalies found)     -> "Accept once"   (override: DEMO_STEWARD="Reject batch" ...)
#   manager (candidate blessed)   -> "Approve"       (override: DEMO_MANAGER=Reject)
# Runs use `airflow dags test` (tasks in this process, in order) against the deployment of start.sh,
# whose api-server takes the answers; the DAG stays paused, so the scheduler leaves these runs alone.
# Data: generated into work/data on first use (DEMO_LEARNERS, default 2000). Settings: DEMO_CONFIG (default
# config/default.toml) and DROPOUT__SECTION__KEY overrides. At the end it prints, per span, the run's state,
# the decisions, the anomaly reports, the evaluation and the pushed model; it exits non-zero when a run failed.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO"
CONFIG=${DEMO_CONFIG:-config/default.toml}
STEWARD=${DEMO_STEWARD:-Accept once}
MANAGER=${DEMO_MANAGER:-Approve}
SPANS=${DEMO_SPANS:-0 1}

bash infra/airflow/start.sh | sed -n '/UI and REST/,$p'
# New DAGs start paused; keep it so (if someone unpaused it) so that the scheduler leaves the demo's runs
# to `dags test`. On a fresh deployment the DAG may not be parsed yet, which is fine: then it is paused.
airflow dags pause dropout_training >/dev/null 2>&1 || true

.venv-tfx/bin/python - "$CONFIG" "${DEMO_LEARNERS:-2000}" <<'PY'
import logging, sys
from dropout.contract.settings import load_settings
from lab.demo import ensure_data
logging.basicConfig(level=logging.INFO)
ensure_data(load_settings(sys.argv[1]), int(sys.argv[2]), 7)
PY

echo "DEMO POLICY: steward answers '$STEWARD' when a span has anomalies; manager answers '$MANAGER' when the candidate is blessed."
for span in $SPANS; do
  log=$AIRFLOW_HOME/logs/demo-span$span.log
  echo "== span $span: airflow dags test dropout_training (log: $log)"
  started=$(date -u +%Y-%m-%dT%H:%M:%S+00:00)
  span_started=$SECONDS
  airflow dags test dropout_training -c "{\"span\": $span, \"config\": \"$CONFIG\", \"reason\": \"manual\"}" \
    > "$log" 2>&1 &
  test_pid=$!
  sleep 1
  python infra/airflow/hitl.py --after "$started" --steward "$STEWARD" --manager "$MANAGER" > "$AIRFLOW_HOME/logs/demo-span$span.json" || true
  wait "$test_pid" || echo "span $span: the DAG run did not succeed; see $log"
  echo "$((SECONDS - span_started))" > "$AIRFLOW_HOME/logs/demo-span$span.seconds"
  echo "== span $span: $((SECONDS - span_started)) s"
done


echo "Airflow keeps running at $AIRFLOW__API__BASE_URL (logins above; Browse -> Required Actions); stop it with: bash infra/airflow/stop.sh"
.venv-tfx/bin/python - "$CONFIG" "$AIRFLOW_HOME/logs" $SPANS <<'PY'
"""Where each demo run's results are: decisions, anomaly reports, evaluation, pushed model."""
import json, sys
from pathlib import Path
from dropout.contract.settings import load_settings
from dropout.pipeline import outputs
from dropout.review.records import review_dir

settings = load_settings(sys.argv[1])
pipe, logs, failed = settings.pipeline, Path(sys.argv[2]), 0
for span in sys.argv[3:]:
    answers = logs / f"demo-span{span}.json"
    if not answers.exists() or not answers.read_text().strip():
        print(f"\n== span {span}: no run result (see {logs}/demo-span{span}.log)")
        failed += 1
        continue
    result = json.loads(answers.read_text())
    run_id, tasks = result["run_id"], result["tasks"]
    failed += result["state"] != "success"
    print(f"\n== span {span}: run {run_id}: {result['state']}")
    for a in result["answered"]:
        print(f"  DEMO POLICY answer: {a['by']} chose {a['option']!r} for {a['task_id']}")
    reviews = review_dir(settings, run_id)
    for name in ("data_decision.json", "approval.json"):
        if (reviews / name).exists():
            record = json.loads((reviews / name).read_text())
            print(f"  {name[:-5]}: {record['decision']} by {record['by']} ({reviews / name})")
    run = outputs.run_outputs(pipe.metadata_path, pipe.name, run_id)
    anomalies = [("schema (ExampleValidator)", "ExampleValidator"), ("drift (DistributionValidator)", "DistributionValidator")]
    for label, node in anomalies:
        try:
            print(f"  anomalies, {label}: {len(outputs.read_anomalies(run.uri(node, 'anomalies')))} in {run.uri(node, 'anomalies')}")
        except LookupError:
            print(f"  anomalies, {label}: not run (first span: no earlier span to compare with)")
    if (reviews / "anomalies.html").exists():
        print(f"  anomaly report (what the steward saw): {reviews / 'anomalies.html'}")
    try:
        print(f"  evaluation (TFMA, sliced): {run.uri('Evaluator', 'evaluation')}")
        fairness = outputs.read_fairness(run.uri("FairnessGate", "blessing"))
        metrics = outputs.overall_metrics(fairness)
        print("  overall: " + ", ".join(f"{k}={metrics[k]:.3f}" for k in ("auc", "recall", "f1", "precision_at_top")
                                        if k in metrics) + f"; blessed={fairness['blessed']}")
        if (reviews / "candidate.html").exists():
            print(f"  candidate review (what the manager saw): {reviews / 'candidate.html'}")
    except LookupError:
        print("  evaluation: not run (" + ", ".join(f"{t}={tasks.get(t)}" for t in ("data_review", "Evaluator")) + ")")
    pushed = run.artifacts.get("Pusher", {}).get("pushed_model", [{}])[0].get("properties", {})
    if pushed.get("pushed") == 1:
        print(f"  pushed model: {pushed['pushed_destination']}")
    else:
        print(f"  pushed model: none (Pusher {tasks.get('Pusher')})")
print("\nPushed models (TF Serving layout):",
      *sorted(str(p) for p in Path(pipe.serving_root).glob("*/*")) or ["(none)"], sep="\n  ")
sys.exit(1 if failed else 0)
PY
