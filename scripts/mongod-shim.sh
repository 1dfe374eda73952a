#!/usr/bin/env bash
# A stand-in for `mongod` that runs FerretDB instead, for machines that cannot download mongod.
# mongodb-memory-server starts it through MONGOMS_SYSTEM_BINARY, so the embedded-database code path
# (npm start with no MONGODB_URI) can be exercised here against a real MongoDB-wire server:
#   MONGOMS_SYSTEM_BINARY=$PWD/scripts/mongod-shim.sh npm start
# It speaks only the few mongod flags mongodb-memory-server passes (--port, --dbpath, --bind_ip).
set -euo pipefail
if [ "${1:-}" = "--version" ]; then
  echo "db version v7.0.14"
  exit 0
fi
port=27017 dbpath= ip=127.0.0.1
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --dbpath) dbpath=$2; shift 2 ;;
    --bind_ip) ip=$2; shift 2 ;;
    *) shift ;;
  esac
done
[ -n "$dbpath" ] || { echo "mongod-shim: --dbpath is required" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
bin=$(bash "$here/ferretdb.sh" build 2>/dev/null)
mkdir -p "$dbpath"
"$bin" --handler=sqlite --sqlite-url="file:$dbpath/" --state-dir="$dbpath" --listen-addr="$ip:$port" \
  --debug-addr=127.0.0.1:0 --telemetry=disable --log-level=warn &
child=$!
trap 'kill $child 2>/dev/null; wait $child 2>/dev/null' TERM INT EXIT
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/$ip/$port") 2>/dev/null; then
    echo '{"t":{"$date":"now"},"s":"I","c":"NETWORK","id":23016,"ctx":"listener","msg":"Waiting for connections","attr":{"port":'"$port"'}}'
    wait $child
    exit $?
  fi
  sleep 0.1
done
echo "mongod-shim: FerretDB did not start" >&2
exit 1
