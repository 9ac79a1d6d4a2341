# Sourced by start.sh and stop.sh: one local MLflow tracking server for this repository.
#   MLFLOW_HOME=work/mlflow (SQLite backend store mlflow.db, artifact root artifacts/, logs, pid),
#   listening on 127.0.0.1:$MLFLOW_PORT (default 5000, the `[tracking] uri` of config/default.toml).
# Override MLFLOW_HOME / MLFLOW_PORT before running start.sh for a second, throwaway server (the tests do).
# MLFLOW_AUTH=1 starts MLflow's basic-auth app instead (admin password generated into MLFLOW_HOME).
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MLFLOW_BIN=${MLFLOW_BIN:-$REPO/.venv-tfx/bin/mlflow}
export MLFLOW_HOME=${MLFLOW_HOME:-$REPO/work/mlflow}
export MLFLOW_PORT=${MLFLOW_PORT:-5000}
export MLFLOW_HOST=${MLFLOW_HOST:-127.0.0.1}
export MLFLOW_URL=http://$MLFLOW_HOST:$MLFLOW_PORT
MLFLOW_PIDFILE=$MLFLOW_HOME/server.pid
mkdir -p "$MLFLOW_HOME" && chmod 700 "$MLFLOW_HOME"
