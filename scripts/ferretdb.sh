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

# A free port below the kernel's ephemeral range when there is room there: a test that stops the server and
# starts it again on the same port (an outage) must not find that port taken in between by some other process's
# outgoing connection or `listen(0)`, which take theirs from that range. Elsewhere: whatever listen(0) gives.
free_port() {
  node -e '
    const net = require("net");
    let low = 0;
    try { low = Number(require("fs").readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]); } catch {}
    const candidates = low > 11000 ? Array.from({ length: 50 }, () => 10000 + Math.floor(Math.random() * (low - 11000))) : [];
    const tryPort = (port) => {
      const server = net.createServer();
      server.once("error", () => tryPort(candidates.length > 0 ? candidates.pop() : 0));
      server.listen(port, "127.0.0.1", () => { console.log(server.address().port); server.close(); });
    };
    tryPort(candidates.length > 0 ? candidates.pop() : 0);'
}

# Whether the process `pid` itself listens on 127.0.0.1:port (Linux: /proc), not some other process that took the
# port while FerretDB failed to bind it. Where /proc cannot tell, answers yes: the connect check alone decides.
listens_on() {
  node -e '
    const fs = require("fs");
    const [port, pid] = process.argv.slice(1).map(Number);
    let table;
    try { table = fs.readFileSync("/proc/net/tcp", "utf8"); } catch { process.exit(0); }
    const local = "0100007F:" + port.toString(16).toUpperCase().padStart(4, "0");
    const inodes = table.split("\n").slice(1).map((line) => line.trim().split(/\s+/)).filter((f) => f[1] === local && f[3] === "0A").map((f) => "socket:[" + f[9] + "]");
    let links = [];
    try { links = fs.readdirSync("/proc/" + pid + "/fd").map((fd) => { try { return fs.readlinkSync("/proc/" + pid + "/fd/" + fd); } catch { return ""; } }); } catch { process.exit(1); }
    process.exit(inodes.some((inode) => links.includes(inode)) ? 0 : 1);' "$1" "$2"
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
  # Wait until it accepts connections on the port, and it is FerretDB that listens there: another process holding
  # the port would accept them too while FerretDB exits, unable to bind it.
  for _ in $(seq 1 100); do
    if node -e '
      const s=require("net").connect('"$port"',"127.0.0.1",()=>{s.end();process.exit(0)});
      s.on("error",()=>process.exit(1))' 2>/dev/null && listens_on "$port" "$(cat "$dir/ferretdb.pid")"; then
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
