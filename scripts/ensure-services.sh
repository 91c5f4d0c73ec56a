#!/usr/bin/env bash
# Make sure what the tests talk to is installed and running on 127.0.0.1:
# PostgreSQL on port 5432 with a database `test` that user `postgres` reaches without a
# password from 127.0.0.1. A server already running there is reused as it is; otherwise
# PostgreSQL is installed from Debian's packages (when missing) and a cluster started.
set -euo pipefail

pg_up() {
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null
  else
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
  fi
}

if pg_up; then
  echo "PostgreSQL: running on 127.0.0.1:5432"
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "PostgreSQL is not running on 127.0.0.1:5432 and cannot be set up here (needs root" \
       "and apt-get). Start one (trust auth, database 'test') or set" \
       "TELEPUSH_TEST_POSTGRES_URL; PostgreSQL tests skip outside CI and fail in CI." >&2
  exit 0
fi

configure=false
if ! command -v pg_ctlcluster >/dev/null; then
  echo "PostgreSQL: installing from Debian packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  configure=true
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$version main"; then
  pg_createcluster "$version" main >/dev/null
  configure=true
fi
if $configure; then
  # A cluster made here is a test cluster: trust connections from this machine only.
  hba=/etc/postgresql/$version/main/pg_hba.conf
  { printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n'; cat "$hba"; } \
    > "$hba.new" && mv "$hba.new" "$hba" && chown postgres:postgres "$hba"
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do pg_up && break; sleep 1; done
pg_up || { echo "PostgreSQL did not start" >&2; exit 1; }
if ! su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='test'\"" | grep -q 1
then
  su postgres -c "createdb test"
fi
echo "PostgreSQL: started on 127.0.0.1:5432"
