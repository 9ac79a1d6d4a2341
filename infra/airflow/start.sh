#!/usr/bin/env bash
# Start the local Airflow deployment (api-server, scheduler, dag-processor, triggerer; LocalExecutor,
# SQLite, AIRFLOW_HOME=work/airflow) in the background and print the URL and the logins.
# Stop it with `bash infra/airflow/stop.sh`. Logs: work/airflow/logs/<component>.log.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO"

airflow_init
mkdir -p "$AIRFLOW_HOME/logs" "$AIRFLOW_HOME/pids"
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
