#!/usr/bin/env bash
# Stop the Ralph LRS this checkout started (by its recorded pid; nothing of another checkout).
set -euo pipefail
cd "$(dirname "$0")/../.."
LRS_HOME=${LRS_HOME:-work/lrs}
if [ -s "$LRS_HOME/lrs.pid" ] && kill "$(cat "$LRS_HOME/lrs.pid")" 2>/dev/null; then
  echo "lrs: stopped pid $(cat "$LRS_HOME/lrs.pid")"
fi
rm -f "$LRS_HOME/lrs.pid"
