#!/usr/bin/env bash
# Profiles our server's per-message path: the server runs pinned to core 0 under the echo load
# of one benchmark case while perf (cpu-clock samples, call graphs) and py-spy (Python frames)
# watch it. Usage: bench/profile.sh [SECONDS] [loadclient echo options...]
#   bench/profile.sh 10 --conns 10 --size 16            # the 10 x 16 B case
#   bench/profile.sh 10 --conns 10 --size 1024 --inflight 16
# SERVER_ARGS adds server options (SERVER_ARGS=--greenlets profiles the hub).
# Needs: perf (apt-get install linux-perf), py-spy (pip install py-spy) in the PATH or venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
secs="${1:-10}"; shift || true
load=("$@"); [ ${#load[@]} -gt 0 ] || load=(--conns 10 --size 16)
python="${PYTHON:-python3}"
out="${OUT:-$(mktemp -d /tmp/bench-profile-XXXXXX)}"
cargo build --release -q --manifest-path "$here/loadclient/Cargo.toml"
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 "$python" -m pywebsocket3.standalone -p "$port" -H 127.0.0.1 \
    -d "$here/servers" -w "$here/servers" ${SERVER_ARGS:-} >"$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
client="$here/loadclient/target/release/loadclient"
url="ws://127.0.0.1:$port/echo"
# Pass 1: perf, native frames (Rust, CPython, libc, kernel).
taskset -c 1 "$client" echo --url "$url" --duration "$((secs + 2))" "${load[@]}" >"$out/load-perf.json" &
sleep 1
perf record -e cpu-clock -F 1999 -g -p "$server" -o "$out/perf.data" -- sleep "$secs" 2>"$out/perf.err"
wait %2 2>/dev/null || true
perf report -i "$out/perf.data" --no-children --sort dso,sym -g none --stdio 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -80 >"$out/perf-self.txt"
perf report -i "$out/perf.data" --children --sort sym -g none --stdio 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -80 >"$out/perf-children.txt"
perf report -i "$out/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -v '^#' | head -30 >"$out/perf-dso.txt"
# Pass 2: py-spy, which Python functions the per-message time goes to.
if command -v py-spy >/dev/null || [ -x "$(dirname "$python")/py-spy" ]; then
    spy="$(command -v py-spy || echo "$(dirname "$python")/py-spy")"
    taskset -c 1 "$client" echo --url "$url" --duration "$((secs + 2))" "${load[@]}" >"$out/load-spy.json" &
    sleep 1
    "$spy" record -p "$server" -d "$secs" -r 500 -f raw -o "$out/py-spy.txt" --threads >/dev/null 2>&1 || true
    wait %3 2>/dev/null || true
fi
echo "profile in $out: perf-self.txt perf-children.txt perf-dso.txt py-spy.txt load-*.json"
