#!/usr/bin/env bash
# Set up a virtual environment (first run only) and run `telepush demo` from any directory.
# Options go to the command: scripts/demo.sh --events 50 --keep-running (see --help).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PYTHON=${PYTHON:-python3}
if [[ ! -x "$repo/.venv/bin/telepush" ]]; then
  echo "setting up $repo/.venv (first run only)..." >&2
  if [[ ! -x "$repo/.venv/bin/python" ]]; then
    "$PYTHON" -m venv "$repo/.venv"
  fi
  "$repo/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$repo"
fi
exec "$repo/.venv/bin/telepush" demo "$@"
