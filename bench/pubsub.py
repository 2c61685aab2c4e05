"""Pub/sub benchmark: 1 publisher -> 1,000 subscribers (issue #13). Run by hand, not in CI.

Servers: ours with in-process channels (blocking and ``async def`` handlers), ours with
``--workers 2`` sharing a redis-server this script starts, the websockets library's
``broadcast()``, socketify's native topics. The Rust load client (``loadclient subscribe``)
opens the subscribers and the publisher; every payload carries its send time and sequence.
Servers (and redis-server) run pinned to core 0, the client to core 1.

  python bench/pubsub.py                       # 2 sizes x 5 servers x 3 rounds, ~5 minutes
  python bench/pubsub.py --servers ours,websockets --sizes 64 --rounds 1
Run it with a Python that has a release build of pywebsocket-rs installed (``pip install .``).
"""

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import report
import servers as srv

BENCH = Path(__file__).resolve().parent
ORDER = ["ours", "ours-async", "ours-redis", "websockets", "socketify"]
NAMES = {
    "ours": "ours, in-process channels",
    "ours-async": "ours, async def handlers",
    "ours-redis": "ours --workers 2 + Redis",
    "websockets": "websockets 17.4 broadcast()",
    "socketify": "socketify 0.0.31 topics",
}


def server_argv(name: str, python: Path, peers: Path, port: int, redis_port: int) -> list:
    standalone = [str(python), "-m", "pywebsocket3.standalone", "-p", str(port)]
    standalone += ["-H", "127.0.0.1"]
    handlers = str(BENCH / "servers" / ("pubsub_async" if name == "ours-async" else "pubsub"))
    standalone += ["-d", handlers, "-w", handlers]
    if name in ("ours", "ours-async"):
        return standalone
    if name == "ours-redis":
        url = f"redis://127.0.0.1:{redis_port}/0"
        return [*standalone, "--workers", "2", "--channels-url", url]
    if name == "websockets":
        return [str(peers), str(BENCH / "servers" / "websockets_pubsub.py"), str(port)]
    if name == "socketify":
        return [str(peers), str(BENCH / "servers" / "socketify_pubsub.py"), str(port)]
    raise ValueError(name)


def runqueue_wait_s(root: int) -> float:
    """Seconds the threads of `pid` and its children spent runnable but waiting for a CPU
    (/proc schedstat): the neighbours' share of the core."""
    total = 0
    for pid in srv._process_tree(root):
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9


def socket_counts(server: srv.Server) -> dict:
    """Open sockets per process of the server tree (to see how --workers spread members)."""
    counts = {}
    for pid in srv._process_tree(server.proc.pid):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        n = 0
        for fd in fds:
            try:
                n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
            except OSError:
                continue
        counts[pid] = n
    return counts


def run_once(name: str, size: int, args, tools: dict) -> dict:
    port, redis = srv.free_port(), None
    if name == "ours-redis":
        redis_port = srv.free_port()
        redis_argv = [tools["redis"], "--port", str(redis_port), "--bind", "127.0.0.1"]
        redis = srv.Server("redis", [*redis_argv, "--save", "", "--appendonly", "no"], redis_port)
    else:
        redis_port = 0
    argv = server_argv(name, tools["ours"], tools["peers"], port, redis_port)
    try:
        server = srv.Server(name, argv, port)
    except RuntimeError:
        if redis:
            redis.stop()
        raise
    sides = [server] + ([redis] if redis else [])
    try:
        time.sleep(1 if name == "ours-redis" else 0.2)  # workers forked and subscribed
        client = [
            "taskset",
            "-c",
            srv.CLIENT_CORE,
            str(tools["bin"] / "loadclient"),
            "subscribe",
            "--url",
            f"ws://127.0.0.1:{port}/sub",
            "--pub-url",
            f"ws://127.0.0.1:{port}/pub",
            "--conns",
            str(args.conns),
            "--size",
            str(size),
            "--binary",
            "--duration",
            str(args.duration),
            "--warmup",
            str(args.warmup),
            "--timeout",
            "30",
        ]
        client += ["--rate", str(args.rate)] if args.rate else ["--window", str(args.window)]
        proc = subprocess.Popen(client, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        watchdog = threading.Timer(args.duration + args.warmup + 120, proc.kill)
        watchdog.start()
        marks: dict = {}
        stderr_tail = []
        try:
            for line in proc.stderr:
                word = line.strip()
                if word in ("MEASURE", "MEASURED"):
                    marks[word] = [s.cpu_seconds() for s in sides]
                    marks[word + "-wait"] = runqueue_wait_s(server.proc.pid)
                    marks[word + "-client-wait"] = runqueue_wait_s(proc.pid)
                    if word == "MEASURED":
                        marks["rss"] = [s.rss_kib() for s in sides]
                        marks["sockets"] = socket_counts(server)
                else:
                    stderr_tail = (stderr_tail + [line])[-5:]
            out = proc.stdout.read()
            proc.wait()
        finally:
            watchdog.cancel()
        try:
            result = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"errors": 1, "error_samples": [f"no report: {''.join(stderr_tail)[-300:]}"]}
        if "MEASURE" in marks and "MEASURED" in marks:
            cpu = [b - a for a, b in zip(marks["MEASURE"], marks["MEASURED"])]
            delivered = result.get("delivered") or 0
            seconds = result.get("seconds") or 0
            result["server_cpu_s"] = round(sum(cpu), 3)
            result["redis_cpu_s"] = round(cpu[1], 3) if redis else 0
            if delivered:
                result["cpu_us_per_delivery"] = round(sum(cpu) / delivered * 1e6, 3)
            if seconds:
                result["server_busy"] = round(sum(cpu) / seconds, 3)
                waited = marks["MEASURED-wait"] - marks["MEASURE-wait"]
                result["server_runqueue_wait"] = round(waited / seconds, 3)
                waited = marks["MEASURED-client-wait"] - marks["MEASURE-client-wait"]
                result["client_runqueue_wait"] = round(waited / seconds, 3)
            result["rss_kib"] = sum(marks["rss"])
            result["sockets_per_process"] = sorted(marks["sockets"].values(), reverse=True)
        result["exit_status"] = server.proc.poll()
        return result
    finally:
        for side in sides:
            side.stop()


def medians(results: list[dict]) -> dict:
    merged = {}
    keys = {k for r in results for k, v in r.items() if isinstance(v, (int, float))}
    for key in sorted(keys - {"errors"}):
        values = [r[key] for r in results if isinstance(r.get(key), (int, float))]
        merged[key] = statistics.median(values)
    merged["errors"] = sum(r.get("errors", 0) for r in results)
    merged["error_samples"] = [s for r in results for s in r.get("error_samples", [])][:5]
    merged["rounds"] = len(results)
    return merged


def ratio(value, base) -> str:
    return f"{value / base:.2f}x" if value and base else "-"


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# Pub/sub: 1 publisher -> 1,000 subscribers",
        "",
        f"`{results['command']}`",
        "",
        f"{m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}; "
        f"load average {results['load_avg_start']} at start, {results['load_avg_end']} at end "
        "(the machine is shared: msg/s moves with the neighbours, CPU per delivery much less). "
        f"ours: release build of {results['ours_commit']}. Median of {results['rounds']} "
        "round(s); servers (and redis-server) on core 0, the load client on core 1.",
        "",
        f"Publisher: {results['publisher']}. Delivered msg/s = deliveries of measured messages "
        "(summed over subscribers) / time from the first measured publish to the last delivery. "
        "Latency: publisher's send to a subscriber's read, same clock. CPU: utime + stime of the "
        "server's process tree (+ redis-server) between the start and the end of the measured "
        "messages, per delivery. Server busy: that CPU / the measured seconds (1.0 = one core); "
        "runqueue wait: the time its threads were runnable but waited for a CPU "
        "(/proc/PID/task/*/schedstat) / the measured seconds: neighbours' load on core 0. "
        "Client busy and wait: the same for the load client (core 1).",
    ]
    for size, per_server in results["median"].items():
        lines += [
            "",
            f"## {size} B binary messages",
            "",
            "| server | delivered msg/s | vs websockets | vs socketify | p50 | p99 "
            "| CPU µs / delivery | deliveries per CPU-s | server busy | runqueue wait "
            "| RSS MiB | lost | dup | client busy | client wait |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
            "| ---: | ---: | ---: |",
        ]
        base_ws = per_server.get("websockets", {}).get("delivered_per_s")
        base_sf = per_server.get("socketify", {}).get("delivered_per_s")
        for name, r in per_server.items():
            rate = r.get("delivered_per_s", 0)
            errors = f" ({r['errors']} errors)" if r.get("errors") else ""
            lines.append(
                f"| {NAMES[name]}{errors} | {rate:,.0f} | {ratio(rate, base_ws)} "
                f"| {ratio(rate, base_sf)} | {ms(r.get('p50_us'))} | {ms(r.get('p99_us'))} "
                f"| {r.get('cpu_us_per_delivery', 0):.2f} | {per_cpu_s(r)} "
                f"| {r.get('server_busy', 0):.2f} | {r.get('server_runqueue_wait', 0):.2f} "
                f"| {r.get('rss_kib', 0) / 1024:.0f} | {r.get('lost', 0):.0f} "
                f"| {r.get('duplicated', 0):.0f} | {r.get('client_busy', 0):.2f} "
                f"| {r.get('client_runqueue_wait', 0):.2f} |"
            )
    return "\n".join(lines) + "\n"


def per_cpu_s(r: dict) -> str:
    """What one fully available core would deliver at this CPU cost."""
    cost = r.get("cpu_us_per_delivery")
    return f"{1e6 / cost:,.0f}" if cost else "-"


def ms(us) -> str:
    if us is None:
        return "-"
    return f"{us / 1000:.1f} ms" if us >= 1000 else f"{us:.0f} µs"


def ours_commit(python: Path) -> str:
    """The commit the venv's build came from, when the installer left it in a marker file."""
    marker = Path(os.environ.get("PUBSUB_OURS_COMMIT_FILE", "/tmp/pubsub-src/.built-from"))
    commit = marker.read_text().strip()[:12] if marker.exists() else "unknown commit"
    return f"{commit} ({python})"


def build_loadclient() -> Path:
    """Builds the load client (or finds it up to date), honouring CARGO_TARGET_DIR."""
    manifest = srv.LOADCLIENT_DIR / "Cargo.toml"
    subprocess.run(
        ["cargo", "build", "--release", "-q", "--manifest-path", str(manifest)], check=True
    )
    target = os.environ.get("CARGO_TARGET_DIR") or srv.LOADCLIENT_DIR / "target"
    return Path(target) / "release"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default=",".join(ORDER))
    parser.add_argument("--sizes", default="64,1024")
    parser.add_argument("--conns", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=int, default=32, help="undelivered messages at most")
    parser.add_argument("--rate", type=float, default=0, help="fixed publish rate instead")
    parser.add_argument("--ours-python", type=Path, default=Path(sys.executable))
    parser.add_argument("--peers-venv", type=Path, default=srv.CACHE / "venv-peers")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--name", default="pubsub", help="results file stem")
    args = parser.parse_args()

    srv.CACHE.mkdir(parents=True, exist_ok=True)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    wanted = args.servers.split(",")
    if any(s.startswith("ours") for s in wanted) and not srv.ours_importable(args.ours_python):
        print(f"pywebsocket3 is not importable by {args.ours_python}", file=sys.stderr)
        return 2
    tools = {
        "ours": args.ours_python,
        "peers": srv.ensure_venv(args.peers_venv, srv.PEER_PACKAGES),
        "bin": build_loadclient(),
        "redis": shutil.which("redis-server") or "/usr/bin/redis-server",
    }
    publisher = (
        f"{args.rate:g} msg/s fixed"
        if args.rate
        else f"at most {args.window} messages not yet delivered to every subscriber "
        "(the saturating rate without loss)"
    )
    command = "python bench/pubsub.py " + " ".join(
        re.sub(r"^/\S*/python3?(\.\d+)?$", "PYTHON", a) for a in sys.argv[1:]
    )
    results: dict = {
        "command": command.strip(),
        "machine": report.machine(),
        "load_avg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "ours_commit": ours_commit(args.ours_python),
        "rounds": args.rounds,
        "conns": args.conns,
        "duration": args.duration,
        "publisher": publisher,
        "runs": {},
    }
    begun = time.monotonic()
    for rnd in range(args.rounds):
        order = wanted[rnd % len(wanted) :] + wanted[: rnd % len(wanted)]
        for size in [int(s) for s in args.sizes.split(",")]:
            for name in order:
                try:
                    result = run_once(name, size, args, tools)
                except RuntimeError as exc:
                    result = {"errors": 1, "error_samples": [str(exc)]}
                result["load_avg"] = os.getloadavg()[0]
                results["runs"].setdefault(str(size), {}).setdefault(name, []).append(result)
                print(
                    f"[{time.monotonic() - begun:5.0f}s] round {rnd + 1} {size:5} B "
                    f"{name:11} {result.get('delivered_per_s', 0):>11,.0f} deliveries/s "
                    f"p99 {ms(result.get('p99_us'))} "
                    f"cpu {result.get('cpu_us_per_delivery', 0):.2f} µs "
                    f"lost {result.get('lost', 0):.0f} "
                    f"errors {result.get('errors')} {result.get('error_samples', [])[:1]}",
                    file=sys.stderr,
                    flush=True,
                )
    results["load_avg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results["median"] = {
        size: {name: medians(per[name]) for name in wanted if name in per}
        for size, per in results["runs"].items()
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(results, indent=1) + "\n")
    table = markdown(results)
    (args.out / f"{args.name}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
