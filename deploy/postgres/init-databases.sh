#!/bin/sh
# Creates Fleuve's databases on the first start of the compose PostgreSQL (mounted in
# /docker-entrypoint-initdb.d): one per bounded context, all owned by $POSTGRES_USER. The
# identity, homologation, statistics and notification services share fleuve_homologation;
# order, stock and billing each own theirs. The schema is `fleuve migrate`'s (the migrate-*
# services), not this script's.
set -eu
for database in fleuve_homologation fleuve_order fleuve_stock fleuve_billing; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -c "CREATE DATABASE $database OWNER \"$POSTGRES_USER\""
done
