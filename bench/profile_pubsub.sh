#!/usr/bin/env bash
# Profiles one pub/sub server (bench/pubsub.py's load: 1,000 subscribers, a windowed publisher)
# with perf (cpu-clock, call graphs). The server runs on core 0, the load client on core 1.
# Usage: bench/profile_pubsub.sh ours|ours-async|socketify [SECONDS] [SIZE]
#   PYTHON: the Python with ours installed; PEERS_PYTHON: the peers venv's (socketify).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
name="${1:?ours, ours-async or socketify}"; secs="${2:-8}"; size="${3:-64}"
python="${PYTHON:-python3}"
peers="${PEERS_PYTHON:-$HOME/.cache/pywebsocket-rs-bench/venv-peers/bin/python}"
out="${OUT:-$(mktemp -d /tmp/pubsub-profile-XXXXXX)}"
target="${CARGO_TARGET_DIR:-$here/loadclient/target}"
cargo build --release -q --manifest-path "$here/loadclient/Cargo.toml"
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
case "$name" in
    ours) cmd=("$python" -m pywebsocket3.standalone -p "$port" -H 127.0.0.1
               -d "$here/servers/pubsub" -w "$here/servers/pubsub") ;;
    ours-async) cmd=("$python" -m pywebsocket3.standalone -p "$port" -H 127.0.0.1
               -d "$here/servers/pubsub_async" -w "$here/servers/pubsub_async") ;;
    socketify) cmd=("$peers" "$here/servers/socketify_pubsub.py" "$port") ;;
    *) echo "unknown server $name" >&2; exit 2 ;;
esac
taskset -c 0 "${cmd[@]}" >"$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
taskset -c 1 "$target/release/loadclient" subscribe --url "ws://127.0.0.1:$port/sub" \
    --pub-url "ws://127.0.0.1:$port/pub" --conns 1000 --size "$size" --binary \
    --warmup 2 --duration "$((secs + 2))" >"$out/load.json" 2>"$out/load.err" &
client=$!
while ! grep -q MEASURE "$out/load.err" 2>/dev/null; do sleep 0.2; done
# Write syscalls per delivery: how many messages each send carries (batching).
sends=syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_writev
sends+=,syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait
sends+=,syscalls:sys_enter_futex,context-switches,task-clock
perf stat -e "$sends" -p "$server" -o "$out/syscalls.txt" -- sleep "$secs" &
stat=$!
perf record -e cpu-clock -F 1999 -g -p "$server" -o "$out/perf.data" -- sleep "$secs" 2>"$out/perf.err"
wait "$stat" || true
wait "$client" || true
perf report -i "$out/perf.data" --no-children --sort comm,dso,sym -g none --stdio 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -60 >"$out/perf-self.txt" || true
perf report -i "$out/perf.data" --children --sort sym -g none --stdio 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -60 >"$out/perf-children.txt" || true
perf report -i "$out/perf.data" --no-children --sort comm,dso -g none --stdio 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -20 >"$out/perf-threads.txt" || true
echo "profile of $name in $out (load: $(cat "$out/load.json"))"
