#!/usr/bin/env bash
# Creates target/optuna-venv with the Optuna driver's pinned dependencies
# (python/requirements.txt) and prints its python. Needs python3 with venv
# (Debian: python3-venv); installs it with apt-get when missing and root.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/optuna-venv
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2 \
      || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv) >&2
  else
    echo "optuna-venv: python3-venv is missing (apt-get install python3-venv)" >&2
    exit 1
  fi
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r python/requirements.txt >&2
echo "$venv/bin/python"
