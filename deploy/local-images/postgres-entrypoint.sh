#!/bin/sh
# First start: initdb with POSTGRES_USER as superuser (password POSTGRES_PASSWORD) and create
# POSTGRES_DB; then run postgres in the foreground, as the postgres user.
set -eu
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=${POSTGRES_USER}}" "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
mkdir -p "${PGDATA}" /run/postgresql
chown -R postgres:postgres "$(dirname "${PGDATA}")" /run/postgresql
chmod 700 "${PGDATA}"
if [ ! -s "${PGDATA}/PG_VERSION" ]; then
  printf '%s\n' "${POSTGRES_PASSWORD}" > /tmp/pwfile && chown postgres /tmp/pwfile
  runuser -u postgres -- initdb -D "${PGDATA}" -U "${POSTGRES_USER}" --pwfile=/tmp/pwfile \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f /tmp/pwfile
  echo "host all all all scram-sha-256" >> "${PGDATA}/pg_hba.conf"
  if [ "${POSTGRES_DB}" != postgres ]; then
    echo "CREATE DATABASE \"${POSTGRES_DB}\" OWNER \"${POSTGRES_USER}\";" \
      | runuser -u postgres -- postgres --single -D "${PGDATA}" -j postgres >/dev/null
  fi
fi
exec runuser -u postgres -- postgres -D "${PGDATA}" -c listen_addresses='*'
