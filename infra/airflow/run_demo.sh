#!/usr/bin/env bash
# The main job through Airflow: run the training DAG end to end on spans 0 and 1, answering its
# human-in-the-loop reviews with an explicit, logged DEMO POLICY through the REST API:
#   steward (anomalies found)     -> "Accept once"   (override: DEMO_STEWARD="Reject batch" ...)
#   manager (candidate blessed)   -> "Approve"       (override: DEMO_MANAGER=Reject)
# Runs use `airflow dags test` (tasks in this process, in order) against the deployment of start.sh,
# whose api-server takes the answers; the DAG stays paused, so the scheduler leaves these runs alone.
# Data: generated into work/data on first use. Settings: DEMO_CONFIG (default config/default.toml).
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
from dropout.settings import load_settings
from tfx_pipeline.demo import ensure_data
logging.basicConfig(level=logging.INFO)
ensure_data(load_settings(sys.argv[1]), int(sys.argv[2]), 7)
PY

echo "DEMO POLICY: steward answers '$STEWARD' when a span has anomalies; manager answers '$MANAGER' when the candidate is blessed."
for span in $SPANS; do
  log=$AIRFLOW_HOME/logs/demo-span$span.log
  echo "== span $span: airflow dags test dropout_training (log: $log)"
  airflow dags test dropout_training -c "{\"span\": $span, \"config\": \"$CONFIG\", \"reason\": \"manual\"}" \
    > "$log" 2>&1 &
  test_pid=$!
  sleep 5
  python infra/airflow/hitl.py --steward "$STEWARD" --manager "$MANAGER" | tee "$AIRFLOW_HOME/logs/demo-span$span.json" || true
  wait "$test_pid" || echo "span $span: the DAG run did not succeed; see $log"
done

.venv-tfx/bin/python - "$CONFIG" <<'PY'
import json, sys
from pathlib import Path
from dropout.settings import load_settings
settings = load_settings(sys.argv[1])
root = Path(settings.pipeline.root)
print("\nReview records (who decided what, per run):")
for record in sorted(root.glob("reviews/*/*.json")):
    if record.name in ("run.json", "data_decision.json", "approval.json"):
        data = json.loads(record.read_text())
        print(f"  {record.relative_to(root)}: " + ", ".join(
            f"{k}={data[k]}" for k in ("span", "reason", "decision", "by") if k in data))
print("Reports:", *sorted(str(p) for p in root.glob("reviews/*/*.html")), sep="\n  ")
print("Pushed models:", *sorted(str(p) for p in Path(settings.pipeline.serving_root).glob("*/*")) or ["(none)"],
      sep="\n  ")
PY
