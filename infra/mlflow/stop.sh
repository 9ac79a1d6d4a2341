#!/usr/bin/env bash
# Stop the MLflow tracking server started by start.sh (by the pid it recorded, with its workers).
set -euo pipefail
source "$(dirname "$0")/env.sh"
[ -s "$MLFLOW_PIDFILE" ] || exit 0
pid=$(cat "$MLFLOW_PIDFILE")
if kill -0 "$pid" 2>/dev/null; then
  kill -- -"$pid" 2>/dev/null || kill "$pid"  # the process group start.sh created with setsid
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 -- -"$pid" 2>/dev/null || kill -9 "$pid"; fi
  echo "stopped the MLflow tracking server (pid $pid)"
fi
rm -f "$MLFLOW_PIDFILE"
