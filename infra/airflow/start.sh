#!/usr/bin/env bash
# Start the local Airflow deployment (api-server, scheduler, dag-processor, triggerer; LocalExecutor,
# SQLite, AIRFLOW_HOME=work/airflow) and the warm TFX executor its tasks use (dropout/executor) in the
# background and print the URL and the logins.
# Stop it with `bash infra/airflow/stop.sh`. Logs: work/airflow/logs/<component>.log.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO"

mkdir -p "$AIRFLOW_HOME/logs" "$AIRFLOW_HOME/pids"
# First the warm executor: its import of TensorFlow and TFX overlaps Airflow's own start.
pidfile=$AIRFLOW_HOME/pids/tfx-executor.pid
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "warm TFX executor already running (pid $(cat "$pidfile"))"
else
  tfx_executor_start "$pidfile"
  echo "started the warm TFX executor (pid $(cat "$pidfile"); socket $DROPOUT_TFX_EXECUTOR)"
fi
airflow_init
for component in api-server scheduler dag-processor triggerer; do
  pidfile=$AIRFLOW_HOME/pids/$component.pid
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "airflow $component already running (pid $(cat "$pidfile"))"
    continue
  fi
  nohup airflow "$component" > "$AIRFLOW_HOME/logs/$component.log" 2>&1 &
  echo $! > "$pidfile"
  echo "started airflow $component (pid $!)"
done

healthy() {  # the api-server answers its health endpoint (Python, not curl: a minimal Debian has no curl)
  "$AIRFLOW_BIN/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=30)" \
    "$AIRFLOW__API__BASE_URL/api/v2/monitor/health" >/dev/null 2>&1
}
echo -n "waiting for the api-server on $AIRFLOW__API__BASE_URL "
for _ in $(seq 1 150); do
  if healthy; then break; fi
  echo -n "."; sleep 2
done
echo
healthy || { echo "api-server did not come up; see $AIRFLOW_HOME/logs/api-server.log" >&2; exit 1; }

"$AIRFLOW_BIN/python" - "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS" <<PY
import json, sys
passwords = json.load(open(sys.argv[1]))
print("Airflow UI and REST API: $AIRFLOW__API__BASE_URL  (login required; no anonymous access)")
print("Logins (generated into $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE, never committed):")
for entry in sys.argv[2].split(","):
    user, role = entry.split(":")[:2]
    print(f"  {user:<10} {passwords[user]:<20} role={role}")
print("Stewards answer 'steward_review', managers 'manager_approval' (Browse -> Required Actions).")
PY
bash "$REPO/infra/mlflow/start.sh"  # the MLflow tracking server and model registry (infra/mlflow/README.md)
# Tasks fall back to a new TFX process while the executor is still importing; wait for it (bounded).
echo -n "waiting for the warm TFX executor on $DROPOUT_TFX_EXECUTOR "
for _ in $(seq 1 90); do
  if "$REPO/.venv-tfx/bin/python" -m dropout.executor ping --socket "$DROPOUT_TFX_EXECUTOR" 2>/dev/null; then break; fi
  echo -n "."; sleep 2
done
echo
"$REPO/.venv-tfx/bin/python" -m dropout.executor ping --socket "$DROPOUT_TFX_EXECUTOR" \
  || echo "warm TFX executor not ready (see $AIRFLOW_HOME/logs/tfx-executor.log): tasks start their own processes until it is"
