#!/usr/bin/env bash
# Start the local MLflow tracking server in the background (SQLite backend store, local artifact root
# served through the server) and print its URL. Stop it with `bash infra/mlflow/stop.sh`.
# Log: $MLFLOW_HOME/server.log. MLFLOW_AUTH=1: MLflow's basic-auth app (see infra/mlflow/README.md).
set -euo pipefail
source "$(dirname "$0")/env.sh"

if [ -s "$MLFLOW_PIDFILE" ] && kill -0 "$(cat "$MLFLOW_PIDFILE")" 2>/dev/null; then
  echo "MLflow tracking server already running (pid $(cat "$MLFLOW_PIDFILE")): $MLFLOW_URL"
  exit 0
fi

args=(server --host "$MLFLOW_HOST" --port "$MLFLOW_PORT" --workers 1
      --backend-store-uri "sqlite:///$MLFLOW_HOME/mlflow.db"
      --artifacts-destination "$MLFLOW_HOME/artifacts" --serve-artifacts)
if [ "${MLFLOW_AUTH:-0}" = 1 ]; then
  # Secrets are generated once into MLFLOW_HOME (git ignores work/), never committed or printed.
  (umask 077
   [ -s "$MLFLOW_HOME/admin_password" ] || "$REPO/.venv-tfx/bin/python" -c \
     "import secrets; print(secrets.token_urlsafe(18))" > "$MLFLOW_HOME/admin_password"
   [ -s "$MLFLOW_HOME/flask_secret" ] || "$REPO/.venv-tfx/bin/python" -c \
     "import secrets; print(secrets.token_hex(32))" > "$MLFLOW_HOME/flask_secret"
   cat > "$MLFLOW_HOME/basic_auth.ini" <<INI
[mlflow]
default_permission = ${MLFLOW_AUTH_DEFAULT_PERMISSION:-READ}
database_uri = sqlite:///$MLFLOW_HOME/basic_auth.db
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
  )
  export MLFLOW_AUTH_CONFIG_PATH=$MLFLOW_HOME/basic_auth.ini
  MLFLOW_AUTH_ADMIN_PASSWORD=$(cat "$MLFLOW_HOME/admin_password")
  MLFLOW_FLASK_SERVER_SECRET_KEY=$(cat "$MLFLOW_HOME/flask_secret")
  export MLFLOW_AUTH_ADMIN_PASSWORD MLFLOW_FLASK_SERVER_SECRET_KEY
  args+=(--app-name basic-auth)
fi

# The server's background job runner only serves GenAI features this project does not use: off, fewer processes.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}
export MLFLOW_DISABLE_TELEMETRY=${MLFLOW_DISABLE_TELEMETRY:-true}
# Its own process group (setsid), so stop.sh ends the server with its uvicorn worker and nothing else.
setsid nohup "$MLFLOW_BIN" "${args[@]}" > "$MLFLOW_HOME/server.log" 2>&1 < /dev/null &
echo $! > "$MLFLOW_PIDFILE"
echo -n "waiting for the MLflow tracking server on $MLFLOW_URL "
for _ in $(seq 1 ${MLFLOW_START_TIMEOUT:-150}); do
  if curl -fsS "$MLFLOW_URL/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$(cat "$MLFLOW_PIDFILE")" 2>/dev/null; then
    echo; echo "MLflow server exited; see $MLFLOW_HOME/server.log" >&2; tail -20 "$MLFLOW_HOME/server.log" >&2; exit 1
  fi
  echo -n "."; sleep 2
done
echo
curl -fsS "$MLFLOW_URL/health" >/dev/null \
  || { echo "MLflow server did not come up; see $MLFLOW_HOME/server.log" >&2; exit 1; }
echo "MLflow tracking server: $MLFLOW_URL  (pid $(cat "$MLFLOW_PIDFILE"); store $MLFLOW_HOME)"
if [ "${MLFLOW_AUTH:-0}" = 1 ]; then
  echo "Basic auth on: user admin, password in $MLFLOW_HOME/admin_password (clients: MLFLOW_TRACKING_USERNAME/PASSWORD)"
fi
