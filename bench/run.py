"""Side-by-side WebSocket echo benchmark: ours, pywebsocket3 4.0.2, websockets, picows, Rust.

Each server runs pinned to core 0, the load client to core 1. Every case runs for every server
in each round (the order rotates), and the table shows medians over rounds.

  python bench/run.py                # full run (~10 min), writes bench/results/
  python bench/run.py --smoke        # seconds: ours and the Rust floor, tiny counts
  python bench/run.py --servers rust,picows --rounds 1 --cases c10x16,handshake
Run it with the Python that has pywebsocket-rs installed (that is the "ours" server).
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import report
import servers as srv

BENCH = Path(__file__).resolve().parent


def cases(smoke: bool) -> list[dict]:
    """Each case: a name, a label, load client arguments (or a special kind)."""
    d, w = ("0.5", "0") if smoke else ("4", "1")
    echo = ["echo", "--duration", d, "--warmup", w]
    return [
        {
            "name": "c10x16",
            "label": "10 conns × 16 B, 1 in flight",
            "args": [*echo, "--conns", "10", "--size", "16"],
        },
        {
            "name": "c100x16",
            "label": "100 conns × 16 B",
            "args": [*echo, "--conns", "100", "--size", "16"],
        },
        {
            "name": "c1000x16",
            "label": "1,000 busy conns × 16 B",
            "args": [*echo, "--conns", "1000", "--size", "16"],
            "skip_smoke": True,
        },
        {
            "name": "c10x1k16",
            "label": "10 conns × 1 KiB × 16 in flight",
            "args": [*echo, "--conns", "10", "--size", "1024", "--inflight", "16"],
        },
        {
            "name": "c1x1m",
            "label": "1 conn × 1 MiB binary",
            "args": [*echo, "--conns", "1", "--size", str(1 << 20), "--binary"],
        },
        {
            "name": "handshake",
            "label": "handshakes/s (16 at once)",
            "args": ["handshake", "--conns", "16", "--duration", "0.5" if smoke else "3"],
        },
        {
            "name": "idle1k",
            "label": "RSS per idle connection (1,000 held)",
            "idle": 50 if smoke else 1000,
        },
        {
            "name": "idle10k",
            "label": "10,000 idle connections held, then all echo",
            "idle": 10000,
            "skip_smoke": True,
        },
        {
            "name": "deflate",
            "label": "permessage-deflate, JSON ~2.8 KiB, 4 conns",
            "deflate": True,
            "servers": ["ours", "ours-greenlets", "ours-async", "pywebsocket3", "websockets"],
        },
    ]


def run_client(argv: list[str], timeout: float, stdin_line_after_held=None) -> dict:
    """Runs a client pinned to the client core; returns its JSON report."""
    proc = subprocess.Popen(
        ["taskset", "-c", srv.CLIENT_CORE, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Whatever the client or server does, the run ends by this deadline.
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    extra = {}
    try:
        if stdin_line_after_held is not None:
            # Idle mode: sample the server while every connection is held, then release.
            line = proc.stderr.readline()
            if line.startswith("HELD"):
                extra = stdin_line_after_held(int(line.split()[1]))
            try:
                proc.stdin.write("\n")
                proc.stdin.flush()
            except OSError:
                pass  # The client is gone; its exit is reported below.
        out, err = proc.communicate()
    finally:
        watchdog.cancel()
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        why = f"killed after {timeout}s" if proc.returncode == -9 else f"exit {proc.returncode}"
        return {"errors": 1, "error_samples": [f"no report ({why}); stderr: {err[-300:]}"]}
    result.update(extra)
    return result


def measure(case: dict, name: str, argv: list[str], port: int, tools: dict) -> dict:
    server = srv.Server(name, argv, port)
    try:
        url = f"ws://127.0.0.1:{port}/echo"
        if "idle" in case:
            # One short echo first: the handler import and first-use costs are not per connection.
            warm = [str(tools["bin"] / "loadclient"), "echo", "--url", url, "--conns", "1"]
            run_client([*warm, "--msgs", "10"], timeout=60)
        cpu0, rss0 = server.cpu_seconds(), server.rss_kib()
        if "idle" in case:

            def sample(held: int) -> dict:
                time.sleep(0.5)  # Let the server finish its per-connection setup.
                return {
                    "rss_held_kib": server.rss_kib(),
                    "threads_held": server.threads(),
                    "held": held,
                }

            argv_client = [
                str(tools["bin"] / "loadclient"),
                "idle",
                "--url",
                url,
                "--conns",
                str(case["idle"]),
                "--hold",
                "60",
                "--timeout",
                "30",
            ]
            result = run_client(argv_client, timeout=300, stdin_line_after_held=sample)
            if result.get("held"):
                result["rss_per_conn_kib"] = (result["rss_held_kib"] - rss0) / result["held"]
        elif case.get("deflate"):
            argv_client = [
                str(tools["peers"]),
                str(BENCH / "deflate_client.py"),
                "--url",
                url,
                "--duration",
                tools["deflate_duration"],
            ]
            result = run_client(argv_client, timeout=120)
        else:
            result = run_client(
                [str(tools["bin"] / "loadclient"), *case["args"], "--url", url], timeout=300
            )
        cpu = server.cpu_seconds() - cpu0
        result["server_cpu_s"] = round(cpu, 3)
        result["rss_before_kib"], result["rss_after_kib"] = rss0, server.rss_kib()
        done = result.get("total_msgs") or result.get("handshakes") or 0
        if done:
            result["cpu_us_per_op"] = round(cpu / done * 1e6, 2)
        result["exit_status"] = server.proc.poll()
        return result
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke", action="store_true", help="seconds-long run: ours + Rust, tiny counts"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", default=",".join(srv.ORDER))
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument(
        "--out", type=Path, help="results directory (default bench/results; temp for --smoke)"
    )
    parser.add_argument("--upstream-venv", type=Path, default=srv.CACHE / "venv-pywebsocket3")
    parser.add_argument("--peers-venv", type=Path, default=srv.CACHE / "venv-peers")
    args = parser.parse_args()

    srv.CACHE.mkdir(parents=True, exist_ok=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 10,000 idle sockets per side
    wanted = ["ours", "ours-greenlets", "rust"] if args.smoke else args.servers.split(",")
    rounds = 1 if args.smoke else args.rounds
    pythons = {"ours": Path(sys.executable)}
    ours_missing = not srv.ours_importable(pythons["ours"])
    if ours_missing:
        print(
            "note: pywebsocket3._native not importable by this Python; skipping ours",
            file=sys.stderr,
        )
        wanted = [s for s in wanted if not s.startswith("ours")]
    if "pywebsocket3" in wanted:
        pythons["upstream"] = srv.ensure_venv(args.upstream_venv, srv.UPSTREAM_PACKAGES)
    pythons["peers"] = (
        srv.ensure_venv(args.peers_venv, srv.PEER_PACKAGES)
        if not args.smoke
        else Path(sys.executable)
    )
    tools = {
        "bin": srv.build_loadclient(),
        "peers": pythons["peers"],
        "deflate_duration": "0.5" if args.smoke else "4",
    }
    selected = [c for c in cases(args.smoke) if not (args.smoke and c.get("skip_smoke"))]
    if args.cases:
        selected = [c for c in selected if c["name"] in args.cases.split(",")]
    if hard < 10500:
        print(f"note: fd hard limit {hard} is too low for idle10k; skipping it", file=sys.stderr)
        selected = [c for c in selected if c.get("idle", 0) < 10000]

    results: dict = {
        "machine": report.machine(),
        "rounds": rounds,
        "servers": wanted,
        "cases": [{k: c[k] for k in ("name", "label")} for c in selected],
        "runs": {},
    }
    begun = time.monotonic()
    for rnd in range(rounds):
        order = wanted[rnd % len(wanted) :] + wanted[: rnd % len(wanted)]
        for case in selected:
            for name in order:
                if name not in case.get("servers", wanted):
                    continue
                port = srv.free_port()
                argv = srv.command(name, pythons, tools["bin"], port, bool(case.get("deflate")))
                try:
                    result = measure(case, name, argv, port, tools)
                except RuntimeError as exc:
                    result = {"errors": 1, "error_samples": [str(exc)]}
                results["runs"].setdefault(case["name"], {}).setdefault(name, []).append(result)
                print(
                    f"[{time.monotonic() - begun:6.0f}s] round {rnd + 1} "
                    f"{case['name']:10} {name:13} {report.brief(case['name'], result)}",
                    file=sys.stderr,
                    flush=True,
                )

    results["median"] = report.medians(results["runs"])
    out = args.out or (
        Path(tempfile.mkdtemp(prefix="bench-smoke-")) if args.smoke else BENCH / "results"
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    table = report.markdown(results)
    (out / "results.md").write_text(table)
    print(table)
    if not args.smoke:
        subprocess.run(
            [
                str(pythons["peers"]),
                str(BENCH / "plot.py"),
                str(out / "results.json"),
                str(out / "results.png"),
            ],
            check=False,
        )
    failed = [
        (c, s) for c, per in results["median"].items() for s, m in per.items() if m.get("errors")
    ]
    if failed:
        print(f"errors in: {failed}", file=sys.stderr)
    print(f"results in {out}", file=sys.stderr)
    return 1 if (args.smoke and (failed or ours_missing)) else 0


if __name__ == "__main__":
    sys.exit(main())
