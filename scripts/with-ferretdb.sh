#!/usr/bin/env bash
# Runs a command with MONGODB_URI pointing at a throwaway FerretDB on loopback, the database CI uses:
#   scripts/with-ferretdb.sh npm test
set -euo pipefail
cd "$(dirname "$0")/.."
dbdir=$(mktemp -d)
trap 'bash scripts/ferretdb.sh stop "$dbdir"; rm -rf "$dbdir"' EXIT
MONGODB_URI=$(bash scripts/ferretdb.sh start "$dbdir")
export MONGODB_URI
"$@"
