#!/usr/bin/env bash
# Make sure Debian's Chromium is installed: the dashboard's browser test
# (tests/e2e/test_dashboard.py) drives it through Playwright with executable_path set to
# `command -v chromium`; no browser is ever downloaded (`playwright install` is not used).
# Without it that test skips, except under CI (CI set), where it fails.
set -euo pipefail

if command -v chromium >/dev/null; then
  echo "Chromium: $(command -v chromium)"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "Chromium is missing and apt-get is not available: install chromium yourself" \
       "(the dashboard's browser test skips outside CI and fails in CI)." >&2
  exit 0
fi
as_root=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "Chromium is missing; installing it needs root (no sudo here): run" \
         "'apt-get install -y --no-install-recommends chromium' as root." >&2
    exit 0
  fi
  as_root=(sudo)
  [[ -t 0 ]] || as_root=(sudo -n)  # never wait for a password nobody can type
fi

echo "Chromium: installing from Debian packages"
if "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
  && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
       apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
  echo "Chromium: $(command -v chromium)"
else
  echo "Chromium could not be installed (the dashboard's browser test skips outside CI" \
       "and fails in CI)." >&2
fi
