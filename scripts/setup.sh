#!/usr/bin/env bash
# Idempotent setup of the two environments from the committed lock files.
#   .venv-tfx      TFX 1.16 / TF 2.16 / Beam / MLflow client + this project (editable)
#   .venv-airflow  Airflow 3.3 (protobuf 7; cannot share an environment with TFX) + this project without its
#                  dependencies (the DAGs import dropout.contract, which is standard library only)
#   .venv-lrs      Ralph, the local Learning Record Store behind the xAPI source (its own pins)
# An environment is rebuilt only when its lock file changed (a stamp holds the lock's hash).
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
PY=${PYTHON:-python3}

if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]; then
  echo "setup: installing uv $UV_VERSION (fast, lock-exact installs)"
  "$PY" -m pip install --quiet "uv==$UV_VERSION"
fi

sync_env() {  # sync_env VENV LOCK [extra command...]
  local venv=$1 lock=$2; shift 2
  local want; want=$(sha256sum "$lock" pyproject.toml | sha256sum | cut -c1-16)
  if [ -f "$venv/.lock-stamp" ] && [ "$(cat "$venv/.lock-stamp")" = "$want" ]; then
    echo "setup: $venv is up to date with $lock"
    return
  fi
  echo "setup: building $venv from $lock"
  [ -x "$venv/bin/python" ] || uv venv --quiet --python "$PY" "$venv"
  uv pip sync --quiet --python "$venv/bin/python" "$lock"
  "$@"
  echo "$want" > "$venv/.lock-stamp"
}

tfx_extras() {
  # tfx and ml-pipelines-sdk declare Requires-Python < 3.11 although everything they import has
  # Python 3.11 wheels (pinned in requirements/tfx.lock): install those two without their metadata checks.
  uv pip install --quiet --python .venv-tfx/bin/python --no-deps tfx==1.16.0 ml-pipelines-sdk==1.16.0
  uv pip install --quiet --python .venv-tfx/bin/python --no-deps -e .
}

airflow_extras() {
  # The DAGs import the answer strings and timeouts of the reviews from dropout.contract (standard library
  # only; import-linter keeps it so): the project, without its dependencies.
  uv pip install --quiet --python .venv-airflow/bin/python --no-deps -e .
}

sync_env .venv-tfx requirements/tfx.lock tfx_extras
sync_env .venv-airflow requirements/airflow.lock airflow_extras
sync_env .venv-lrs requirements/lrs.lock true

# A random local pseudonymisation key for development; production sets $DROPOUT_PSEUDONYM_KEY.
if [ ! -s work/secrets/pseudonym.key ] && [ -z "${DROPOUT_PSEUDONYM_KEY:-}" ]; then
  mkdir -p work/secrets && chmod 700 work/secrets
  "$PY" -c "import secrets; print(secrets.token_hex(32))" > work/secrets/pseudonym.key
  chmod 600 work/secrets/pseudonym.key
  echo "setup: wrote a random development key to work/secrets/pseudonym.key (never commit it)"
fi
# A random bearer token for the local model server; production sets $DROPOUT_SERVING_TOKEN.
if [ ! -s work/secrets/serving.token ] && [ -z "${DROPOUT_SERVING_TOKEN:-}" ]; then
  mkdir -p work/secrets && chmod 700 work/secrets
  "$PY" -c "import secrets; print(secrets.token_urlsafe(32))" > work/secrets/serving.token
  chmod 600 work/secrets/serving.token
  echo "setup: wrote a random serving token to work/secrets/serving.token (never commit it)"
fi
echo "setup: done"
