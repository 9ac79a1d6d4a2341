#!/usr/bin/env bash
# Headless Chromium for the browser test of the review UI (tests/airflow/test_browser.py).
# Idempotent: installs Debian's chromium and chromium-driver only when one of them is missing (needs root
# or sudo, and the Debian mirrors). Selenium itself comes with .venv-airflow (requirements/airflow.lock);
# it drives /usr/bin/chromium through /usr/bin/chromedriver, so no browser is downloaded from elsewhere.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "setup-browser: $(chromium --version 2>/dev/null | head -1) and chromedriver already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup-browser: run as root (or install sudo) to apt-get install chromium" >&2; exit 1; }
  SUDO=sudo
fi
echo "setup-browser: installing chromium and chromium-driver from Debian"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver
echo "setup-browser: $(chromium --version 2>/dev/null | head -1); chromedriver at $(command -v chromedriver)"
