#!/usr/bin/env bash
# Start Ralph (the local Learning Record Store) on loopback with a file backend and HTTP basic auth.
#   LRS_HOME (default work/lrs): statements, the credentials file, the pid and the log
#   LRS_PORT (default 8100)
# Credentials: a generated password for the user "pipeline" in $LRS_HOME/pipeline.password (0600); the
# xAPI source reads it from there (or from $DROPOUT_LRS_PASSWORD). Nothing secret is printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
LRS_HOME=${LRS_HOME:-work/lrs}
LRS_PORT=${LRS_PORT:-8100}
mkdir -p "$LRS_HOME" && chmod 700 "$LRS_HOME"
export RALPH_APP_DIR="$LRS_HOME/app" RALPH_AUTH_FILE="$LRS_HOME/auth.json" RALPH_RUNSERVER_BACKEND=fs
if [ ! -s "$LRS_HOME/pipeline.password" ]; then
  (umask 077 && python3 -c "import secrets; print(secrets.token_urlsafe(24))" > "$LRS_HOME/pipeline.password")
  rm -f "$RALPH_AUTH_FILE"
fi
if [ ! -s "$RALPH_AUTH_FILE" ]; then
  .venv-lrs/bin/ralph auth -u pipeline -p "$(cat "$LRS_HOME/pipeline.password")" -s all \
    -A pipeline https://lrs.local -w >/dev/null 2>&1
  chmod 600 "$RALPH_AUTH_FILE"
fi
if python3 - "$LRS_PORT" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
then
  echo "lrs: port $LRS_PORT is taken; set LRS_PORT to a free port" >&2
  exit 1
fi
nohup .venv-lrs/bin/ralph runserver -b fs --fs-default-directory-path "$LRS_HOME/statements" \
  -h 127.0.0.1 -p "$LRS_PORT" >"$LRS_HOME/lrs.log" 2>&1 &
echo $! >"$LRS_HOME/lrs.pid"
for _ in $(seq 1 60); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$LRS_PORT/xAPI/statements" || true)
  if [ "$code" = "401" ]; then
    echo "lrs: Ralph on http://127.0.0.1:$LRS_PORT (pid $(cat "$LRS_HOME/lrs.pid"); user pipeline, password in $LRS_HOME/pipeline.password)"
    exit 0
  fi
  sleep 0.5
done
echo "lrs: Ralph did not answer on port $LRS_PORT within 30 s; see $LRS_HOME/lrs.log" >&2
exit 1
