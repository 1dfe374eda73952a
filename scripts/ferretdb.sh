#!/usr/bin/env bash
# Builds FerretDB 1.24.2 (a MongoDB-wire server on SQLite) and starts it on loopback.
# This is the database the test suite runs against on machines that cannot download mongod.
#
#   scripts/ferretdb.sh build          build the binary unless a cached one exists; print its path
#   scripts/ferretdb.sh start DIR [PORT]  start it with its data in DIR (on PORT, else a free one); print
#                                         MONGODB_URI; pid in DIR/ferretdb.pid
#   scripts/ferretdb.sh stop DIR          stop the server started with DIR and wait until it has exited
#
# Why not `go install ...@v1.24.2`: the module zip lacks the generated build/version/version.txt, and the
# resulting binary panics at start ("Invalid build/version/version.txt file content"). Building from a
# writable copy of the module with that file written works.
set -euo pipefail

VERSION=v1.24.2
MODULE=github.com/FerretDB/FerretDB
CACHE_DIR=${FERRETDB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/portcullis}
BIN=${FERRETDB_BIN:-$CACHE_DIR/ferretdb-$VERSION}

log() { printf 'ferretdb: %s\n' "$*" >&2; }

build() {
  if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
    log "using cached binary $BIN"
    echo "$BIN"
    return
  fi
  command -v go >/dev/null || { log "Go is required to build FerretDB (apt-get install golang, or see go.dev)"; exit 1; }
  log "building FerretDB $VERSION from the Go module proxy (a few minutes the first time)"
  mkdir -p "$CACHE_DIR"
  go mod download "$MODULE@$VERSION"
  local src work
  src=$(go list -m -f '{{.Dir}}' "$MODULE@$VERSION")
  work=$(mktemp -d)
  cp -R "$src/." "$work/"
  chmod -R u+w "$work"
  printf '%s\n' "$VERSION" >"$work/build/version/version.txt"
  (cd "$work" && go build -buildvcs=false -o "$BIN.tmp" ./cmd/ferretdb)
  mv "$BIN.tmp" "$BIN"
  rm -rf "$work"
  "$BIN" --version >/dev/null
  log "built $BIN"
  echo "$BIN"
}

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

start() {
  local dir=${1:?usage: ferretdb.sh start DIR [PORT]}
  local bin port
  bin=$(build)
  mkdir -p "$dir/data"
  # A given port lets a test restart the server where its clients expect it (an outage and its recovery).
  port=${2:-$(free_port)}
  "$bin" --handler=sqlite --sqlite-url="file:$dir/data/" --state-dir="$dir" \
    --listen-addr="127.0.0.1:$port" --debug-addr=127.0.0.1:0 --telemetry=disable \
    --log-level=warn >"$dir/ferretdb.log" 2>&1 &
  echo $! >"$dir/ferretdb.pid"
  # Wait until it answers the wire protocol, not merely until the port is open.
  for _ in $(seq 1 100); do
    if node -e '
      const s=require("net").connect('"$port"',"127.0.0.1",()=>{s.end();process.exit(0)});
      s.on("error",()=>process.exit(1))' 2>/dev/null; then
      log "listening on 127.0.0.1:$port (data in $dir)"
      echo "mongodb://127.0.0.1:$port/"
      return
    fi
    if ! kill -0 "$(cat "$dir/ferretdb.pid")" 2>/dev/null; then
      log "FerretDB exited at start:"; cat "$dir/ferretdb.log" >&2; exit 1
    fi
    sleep 0.1
  done
  log "FerretDB did not answer on 127.0.0.1:$port within 10 s:"; cat "$dir/ferretdb.log" >&2
  exit 1
}

stop() {
  local dir=${1:?usage: ferretdb.sh stop DIR}
  [ -f "$dir/ferretdb.pid" ] || return 0
  local pid
  pid=$(cat "$dir/ferretdb.pid")
  kill "$pid" 2>/dev/null || true
  # Until it has exited its port is still taken: a restart on the same port would fail.
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$dir/ferretdb.pid"
}

case "${1:-}" in
  build) build ;;
  start) start "${2:-}" "${3:-}" ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: $0 build | start DIR | stop DIR" >&2; exit 2 ;;
esac
