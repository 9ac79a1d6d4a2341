# Sourced by start.sh, stop.sh and run_demo.sh: one local Airflow deployment for this repository.
#   AIRFLOW_HOME=work/airflow (SQLite, logs, generated secrets), DAGs from dags/, LocalExecutor,
#   SimpleAuthManager with the users of dags/dropout_airflow/policy.py (no anonymous access).
# Override AIRFLOW_HOME or AIRFLOW_PORT before sourcing to run a second, throwaway deployment.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
AIRFLOW_BIN=$REPO/.venv-airflow/bin
export AIRFLOW_HOME=${AIRFLOW_HOME:-$REPO/work/airflow}
export AIRFLOW_PORT=${AIRFLOW_PORT:-8080}
mkdir -p "$AIRFLOW_HOME" && chmod 700 "$AIRFLOW_HOME"

# Secrets are generated once into AIRFLOW_HOME (under work/, which git ignores), never committed.
_secret() {  # _secret FILE -> contents, created with a random value on first use
  [ -s "$1" ] || (umask 077 && "$AIRFLOW_BIN/python" -c "import secrets; print(secrets.token_urlsafe(32))" > "$1")
  cat "$1"
}

export AIRFLOW__CORE__DAGS_FOLDER=$REPO/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM=4
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///$AIRFLOW_HOME/airflow.db
export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=$("$AIRFLOW_BIN/python" "$REPO/dags/dropout_airflow/policy.py")
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$AIRFLOW_HOME/passwords.json
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=$AIRFLOW_PORT
export AIRFLOW__API__BASE_URL=http://localhost:$AIRFLOW_PORT
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://localhost:$AIRFLOW_PORT/execution/
# Shared by the api-server, scheduler and workers: task tokens must verify across processes.
AIRFLOW__API_AUTH__JWT_SECRET=$(_secret "$AIRFLOW_HOME/jwt_secret")
export AIRFLOW__API_AUTH__JWT_SECRET
AIRFLOW__CORE__FERNET_KEY=$([ -s "$AIRFLOW_HOME/fernet_key" ] || (umask 077 && "$AIRFLOW_BIN/python" -c \
  "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())" > "$AIRFLOW_HOME/fernet_key"); \
  cat "$AIRFLOW_HOME/fernet_key")
export AIRFLOW__CORE__FERNET_KEY
export AIRFLOW__LOGGING__BASE_LOG_FOLDER=$AIRFLOW_HOME/logs
export PATH=$AIRFLOW_BIN:$PATH
# The warm executor of this machine's TFX tasks (dropout/executor): a Unix socket of this deployment.
export DROPOUT_TFX_EXECUTOR=${DROPOUT_TFX_EXECUTOR:-$AIRFLOW_HOME/tfx-executor.sock}

tfx_executor_start() {  # start the warm executor's supervisor in the background; its pid into $1
  local log=$AIRFLOW_HOME/logs/tfx-executor.log
  mkdir -p "$AIRFLOW_HOME/logs"
  # Without Airflow's settings and secrets: the TFX commands it forks never need them.
  (for name in $(compgen -e | grep '^AIRFLOW'); do unset "$name"; done
   exec setsid nohup "$REPO/.venv-tfx/bin/python" -m dropout.executor supervise --socket "$DROPOUT_TFX_EXECUTOR" \
     > "$log" 2>&1 < /dev/null) &
  echo $! > "$1"
}

airflow_init() {  # migrate the metadata DB, create the TFX pool, generate the users' passwords
  airflow db migrate >/dev/null
  # One slot: SQLite ML Metadata must never be written by two TFX tasks at once.
  airflow pools set tfx_metadata 1 "TFX tasks (SQLite ML Metadata: one writer)" >/dev/null
  "$AIRFLOW_BIN/python" - "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS" <<'PY'
import json, os, secrets, sys
path, users = sys.argv[1], [u.split(":")[0] for u in sys.argv[2].split(",")]
known = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
for user in users:
    known.setdefault(user, secrets.token_urlsafe(12))
os.umask(0o077)
with open(path, "w") as fh:
    json.dump(known, fh)
PY
}
