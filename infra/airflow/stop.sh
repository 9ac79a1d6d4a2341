#!/usr/bin/env bash
# Stop the components started by start.sh (by the pids it recorded).
set -euo pipefail
source "$(dirname "$0")/env.sh"
for pidfile in "$AIRFLOW_HOME"/pids/*.pid; do
  [ -e "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then kill "$pid" && echo "stopped $(basename "$pidfile" .pid) (pid $pid)"; fi
  rm -f "$pidfile"
done
bash "$REPO/infra/mlflow/stop.sh"  # the MLflow tracking server started by start.sh
