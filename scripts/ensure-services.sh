#!/usr/bin/env bash
# Make sure what the tests talk to is installed and running on 127.0.0.1:
# PostgreSQL on port 5432 (reused if present; otherwise installed from Debian and started).
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if command -v pg_isready >/dev/null && pg_up; then
  echo "PostgreSQL: running on 127.0.0.1:5432"
  exit 0
fi
if ! command -v pg_ctlcluster >/dev/null; then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "PostgreSQL is not running and cannot be installed here (needs root and apt-get);" \
         "PostgreSQL tests will skip unless CI is set." >&2
    exit 0
  fi
  echo "PostgreSQL: installing from Debian packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | grep -q "^$version main"; then
  pg_createcluster "$version" main >/dev/null
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do pg_up && break; sleep 1; done
pg_up || { echo "PostgreSQL did not start" >&2; exit 1; }
# The tests use database 'test' as user postgres with trust auth on 127.0.0.1.
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='test'\"" | grep -q 1 \
  || su postgres -c "createdb test"
echo "PostgreSQL: started on 127.0.0.1:5432"
