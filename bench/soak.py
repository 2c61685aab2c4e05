"""Soak test (run by hand, not in CI): 10,000 held connections, normal echo traffic, and a minute
of hostile clients against our server, in one handler mode. Writes bench/results/soak-MODE.json
and rewrites bench/results/soak.md from every soak-*.json there.

  python bench/soak.py                  # handler threads, 10,000 held, 60 s of hostile clients
  python bench/soak.py --mode greenlets # the same with --greenlets
  python bench/soak.py --mode async     # the same echo as an async def handler file
  python bench/soak.py --server rust --held 2000 --seconds 20     # try the harness quickly
Run it with the Python that has pywebsocket-rs installed.
"""

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import hostile
import report
import servers as srv

BENCH = Path(__file__).resolve().parent
# --mode: the servers.py name of ours in each handler mode.
MODES = {"threads": "ours", "greenlets": "ours-greenlets", "async": "ours-async"}


def client(bin_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["taskset", "-c", srv.CLIENT_CORE, str(bin_dir / "loadclient"), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float) -> dict:
    try:
        out, err = proc.communicate(timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        proc.kill()
        return {"errors": 1, "error_samples": [f"client failed: {exc!r}"]}


def sampler(server: srv.Server, stop: threading.Event, samples: list) -> None:
    """RSS, threads and open fds of the server once a second."""
    while not stop.wait(1):
        try:
            fds = len(list(Path(f"/proc/{server.proc.pid}/fd").iterdir()))
            samples.append((server.rss_kib(), server.threads(), fds))
        except OSError:
            return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="ours", choices=["ours", "rust"])
    parser.add_argument("--mode", default="threads", choices=list(MODES), help="handler mode")
    parser.add_argument("--held", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--normal-conns", type=int, default=20)
    parser.add_argument("--bomb-mib", type=int, default=256, help="inflated size of a deflate bomb")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--fd-limit", type=int, default=0, help="raise the fd limit to this")
    args = parser.parse_args()

    srv.CACHE.mkdir(parents=True, exist_ok=True)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Raising the hard limit needs root; the summary records the limit that was in force.
    limit = max(hard, args.fd_limit)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    except (ValueError, OSError):
        limit = hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    bin_dir = srv.build_loadclient()
    port = srv.free_port()
    name = MODES[args.mode] if args.server == "ours" else args.server
    argv = srv.command(name, {"ours": Path(sys.executable)}, bin_dir, port, False)
    server = srv.Server(name, argv, port)
    url = f"ws://127.0.0.1:{port}/echo"
    summary: dict = {"server": args.server, "machine": report.machine(), "held_target": args.held}
    summary.update(mode=args.mode, argv=sys.argv[1:])
    summary.update(normal_conns=args.normal_conns, seconds=args.seconds)
    summary["fd_limit"] = limit
    try:
        rss0, threads0 = server.rss_kib(), server.threads()
        summary.update(rss_start_kib=rss0, threads_start=threads0)
        normal = ["--conns", str(args.normal_conns), "--size", "64", "--timeout", "30"]

        baseline = finish(client(bin_dir, "echo", "--url", url, "--duration", "10", *normal), 60)
        summary["baseline"] = baseline

        hold_secs = str(int(args.seconds + 600))
        idle = client(
            bin_dir,
            "idle",
            "--url",
            url,
            "--conns",
            str(args.held),
            "--hold",
            hold_secs,
            "--timeout",
            "60",
        )
        line = idle.stderr.readline()
        held = int(line.split()[1]) if line.startswith("HELD") else 0
        time.sleep(1)
        rss_held, threads_held = server.rss_kib(), server.threads()
        summary.update(held=held, rss_held_kib=rss_held, threads_held=threads_held)
        summary["rss_per_held_conn_kib"] = round((rss_held - rss0) / held, 2) if held else None

        samples: list = []
        stop = threading.Event()
        watcher = threading.Thread(target=sampler, args=(server, stop, samples), daemon=True)
        watcher.start()
        echo_args = ["echo", "--url", url, "--duration", str(args.seconds), *normal]
        under_attack = client(bin_dir, *echo_args)
        tally = asyncio.run(hostile.run_all(port, args.seconds, args.bomb_mib))
        summary["under_attack"] = finish(under_attack, args.seconds + 120)
        stop.set()
        watcher.join()
        summary["hostile"] = dict(sorted(tally.items()))
        summary["rss_max_during_attack_kib"] = max((s[0] for s in samples), default=None)
        summary["threads_max_during_attack"] = max((s[1] for s in samples), default=None)
        summary["fds_max_during_attack"] = max((s[2] for s in samples), default=None)

        idle.stdin.write("\n")
        idle.stdin.flush()
        summary["held_after"] = finish(idle, 300)
        time.sleep(2)
        summary.update(rss_end_kib=server.rss_kib(), threads_end=server.threads())
        summary["server_alive"] = server.proc.poll() is None
    finally:
        server.stop()

    args.out.mkdir(parents=True, exist_ok=True)
    label = args.mode if args.server == "ours" else args.server
    (args.out / f"soak-{label}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(section(summary))
    (args.out / "soak.md").write_text(document(args.out))
    ok = summary["server_alive"] and not summary["held_after"].get("errors")
    return 0 if ok else 1


def document(out: Path) -> str:
    """soak.md: one section per soak-*.json in `out`, handler threads first."""
    order = {label: index for index, label in enumerate([*MODES, "rust"])}
    runs = [json.loads(path.read_text()) for path in out.glob("soak-*.json")]
    # Per mode, the newest run first (a run may be kept with a "label" saying what it was).
    runs.sort(key=lambda s: (order.get(s.get("mode", "threads"), len(order)), "label" in s))
    lines = [
        "# Soak test",
        "",
        "One section per run of `bench/soak.py` (one handler mode each). The machine is "
        "shared: each section gives the load average when its run started.",
    ]
    lines += [
        "",
        "| run | load at start | held | KiB per held conn | msg/s alone / attacked | p99 alone "
        "/ attacked | errors | server up |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in runs:
        base, attack = s["baseline"], s["under_attack"]
        errors = sum(int(r.get("errors") or 0) for r in (base, attack, s["held_after"]))
        lines.append(
            f"| {s.get('label', s.get('mode', 'threads'))} | "
            f"{s['machine']['load_avg_at_start']:.1f} | {s['held']:,} | "
            f"{s['rss_per_held_conn_kib']} | {base.get('msg_per_s', 0):,.0f} / "
            f"{attack.get('msg_per_s', 0):,.0f} | {base.get('p99_us', 0) / 1000:.2f} / "
            f"{attack.get('p99_us', 0) / 1000:.2f} ms | {errors} | {s['server_alive']} |"
        )
    return "\n".join(lines) + "\n\n" + "\n".join(section(s) for s in runs)


def section(s: dict) -> str:
    base, attack, after = s["baseline"], s["under_attack"], s["held_after"]
    m = s["machine"]
    mode = s.get("mode", "threads")
    command = " ".join(["python bench/soak.py", *s.get("argv", [])])
    titles = {
        "threads": "handler threads (default)",
        "greenlets": "`--greenlets`",
        "async": "`async def` handler file (bench/servers/async/echo_wsh.py)",
    }
    title = titles.get(mode, mode) if s["server"] == "ours" else s["server"]
    title = s.get("label", title)
    normal_conns = s.get("normal_conns", 20)
    seconds = s.get("seconds", 60)
    lines = [
        f"## {title}",
        "",
        f"Server: {s['server']}, pinned to core 0; clients on core 1 and in this script. "
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']} (load average "
        f"{m['load_avg_at_start']:.1f} at start, shared). Command: `{command}`; fd limit in "
        f"force {s['fd_limit']:,}.",
        "",
        f"- Held: {s['held']:,} of {s['held_target']:,} connections opened; afterwards "
        f"{int(after.get('echoed', 0)):,} echoed correctly, errors {after.get('errors')}.",
        f"- RSS: {s['rss_start_kib']:,} KiB at start, {s['rss_held_kib']:,} KiB with them held "
        f"(**{s['rss_per_held_conn_kib']} KiB per connection**), at most "
        f"{s['rss_max_during_attack_kib']:,} KiB during the attack, {s['rss_end_kib']:,} KiB at "
        "the end.",
        f"- Threads: {s['threads_start']} at start, {s['threads_held']:,} held, at most "
        f"{s['threads_max_during_attack']:,} during the attack, {s['threads_end']} at the end; "
        f"open fds at most {s['fds_max_during_attack']:,}.",
        f"- Server still running at the end: {s['server_alive']}.",
        "",
        f"Normal clients ({normal_conns} connections, 64 B messages, 1 in flight):",
        "",
        "| phase | msg/s | p50 | p99 | max | errors |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in (("alone (10 s)", base), (f"with hostile clients ({seconds:g} s)", attack)):
        lines.append(
            f"| {name} | {r.get('msg_per_s', 0):,.0f} | {r.get('p50_us', 0) / 1000:.2f} ms | "
            f"{r.get('p99_us', 0) / 1000:.2f} ms | {r.get('max_us', 0) / 1000:.1f} ms | "
            f"{r.get('errors')} |"
        )
    lines += ["", f"Hostile clients, {seconds:g} s (outcome: count):", ""]
    lines += [f"- {k}: {v:,}" for k, v in s["hostile"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
