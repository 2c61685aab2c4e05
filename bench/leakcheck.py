"""Leak check (run by hand, not in CI): RSS and open fds of the server over 100,000 connections
that each handshake, echo one message and close, in each handler mode. Writes
bench/results/leakcheck.md and leakcheck.json.

  python bench/leakcheck.py                               # the three modes, 100,000 each
  python bench/leakcheck.py --modes threads --total 20000  # one mode, quickly
Run it with the Python that has pywebsocket-rs installed (a release build).
"""

import argparse
import asyncio
import base64
import json
import os
import struct
import sys
import time
from pathlib import Path

import report
import servers as srv

BENCH = Path(__file__).resolve().parent
EXAMPLES = BENCH.parent / "examples"
MODES = {
    # mode: (server name in servers.py or None, extra arguments, resource path)
    "threads": ("ours", [], "/echo"),
    "greenlets": ("ours-greenlets", [], "/echo"),
    "async": (None, ["-d", str(EXAMPLES), "-w", str(EXAMPLES)], "/echo_async"),
}
MESSAGE = b"leak check"
MASK = b"\x11\x22\x33\x44"


def _masked(opcode: int, payload: bytes) -> bytes:
    body = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + MASK + body


TEXT_FRAME = _masked(0x1, MESSAGE)
CLOSE_FRAME = _masked(0x8, struct.pack("!H", 1000))
ECHO_FRAME = bytes([0x81, len(MESSAGE)]) + MESSAGE


def server_argv(mode: str, port: int, bin_dir: Path) -> list:
    name, extra, _path = MODES[mode]
    if name:
        return srv.command(name, {"ours": Path(sys.executable)}, bin_dir, port, False)
    base = [sys.executable, "-m", "pywebsocket3.standalone", "-p", str(port), "-H", "127.0.0.1"]
    return base + extra


async def one_connection(port: int, request: bytes, source: str) -> None:
    """Handshake, one echo, the closing handshake, then the server's FIN."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"handshake: {head[:40]!r}")
        writer.write(TEXT_FRAME)
        echoed = await reader.readexactly(len(ECHO_FRAME))
        if echoed != ECHO_FRAME:
            raise RuntimeError(f"echo: {echoed!r}")
        writer.write(CLOSE_FRAME)
        close = await reader.readexactly(4)
        if close[0] != 0x88:
            raise RuntimeError(f"close: {close!r}")
        if await reader.read(1) != b"":
            raise RuntimeError("data after Close")
    finally:
        writer.close()


async def run_batch(port: int, path: str, count: int, concurrency: int) -> int:
    """`count` connections, `concurrency` at a time; returns the number that failed."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    left = count
    failures = 0

    async def worker(index: int) -> None:
        nonlocal left, failures
        # Several source addresses: 100,000 connections in a minute outrun one address's
        # ephemeral ports while their TIME_WAIT lasts.
        source = f"127.0.0.{2 + index % 8}"
        while left > 0:
            left -= 1
            try:
                await asyncio.wait_for(one_connection(port, request, source), 30)
            except (OSError, RuntimeError, asyncio.IncompleteReadError, TimeoutError) as exc:
                failures += 1
                if failures <= 5:
                    print(f"  connection failed: {exc!r}", file=sys.stderr)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return failures


def fds_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def check_mode(mode: str, args, bin_dir: Path) -> dict:
    port = srv.free_port()
    server = srv.Server(f"leakcheck-{mode}", server_argv(mode, port, bin_dir), port)
    path = MODES[mode][2]
    samples = []
    failures = 0
    started = time.monotonic()
    try:
        # One connection first, so the sample at 0 has the handler loaded and the runtime up.
        failures += asyncio.run(run_batch(port, path, 1, 1))
        time.sleep(args.settle)
        pid = server.proc.pid
        samples.append((0, server.rss_kib(), fds_of(pid), server.threads()))
        done = 0
        while done < args.total:
            batch = min(args.every, args.total - done)
            failures += asyncio.run(run_batch(port, path, batch, args.concurrency))
            done += batch
            time.sleep(args.settle)
            samples.append((done, server.rss_kib(), fds_of(pid), server.threads()))
            print(f"  {mode}: {samples[-1]}", file=sys.stderr)
        alive = server.proc.poll() is None
    finally:
        server.stop()
    seconds = time.monotonic() - started
    return {
        "mode": mode,
        "samples": samples,
        "failures": failures,
        "seconds": round(seconds, 1),
        "conns_per_s": round(args.total / seconds),
        "alive": alive,
        "rss_slope_kib_per_10k": slope([(n, rss) for n, rss, _f, _t in samples[1:]]),
        "fd_slope_per_10k": slope([(n, fds) for n, _r, fds, _t in samples[1:]]),
    }


def slope(points: list) -> float:
    """Least-squares slope, per 10,000 connections (0 with fewer than two points)."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((x - mean_x) ** 2 for x, _ in points)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return round(cov / var * 10_000, 2)


def markdown(results: list, summary: dict, args) -> str:
    m = summary["machine"]
    lines = [
        "# Leak check",
        "",
        f"{args.total:,} connections per mode, each: opening handshake, one 10-byte text "
        "message echoed, closing handshake, the server's FIN. Server pinned to core 0; the "
        f"client (asyncio raw sockets, {args.concurrency} at a time, in `bench/leakcheck.py`) "
        f"on core 1. Samples every {args.every:,} connections, {args.settle:g} s after each "
        f"batch. Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python "
        f"{m['python']} (load average {m['load_avg_at_start']:.1f} at start, shared). "
        f"Command: `python bench/leakcheck.py --total {args.total} --every {args.every}`.",
        "",
        "Slope: least squares over the samples from the first batch on (the sample at 0 is "
        "taken after one connection; the first batch fills the allocator's and the idle "
        "handler threads' working set).",
        "",
        "| mode | RSS at 0 | RSS after first batch | RSS at end | RSS slope per 10k | fds "
        "0 → end | fd slope per 10k | threads 0 → end | conn/s | failures |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        s = r["samples"]
        lines.append(
            f"| {r['mode']} | {s[0][1]:,} KiB | {s[1][1]:,} KiB | {s[-1][1]:,} KiB | "
            f"{r['rss_slope_kib_per_10k']:+.1f} KiB | {s[0][2]} → {s[-1][2]} | "
            f"{r['fd_slope_per_10k']:+.2f} | {s[0][3]} → {s[-1][3]} | {r['conns_per_s']:,} | "
            f"{r['failures']} |"
        )
    lines += ["", "Every sample (connections: RSS KiB, fds, threads):", ""]
    for r in results:
        cells = ", ".join(
            f"{n // 1000}k: {rss:,}/{fds}/{threads}" for n, rss, fds, threads in r["samples"]
        )
        lines.append(f"- {r['mode']}: {cells}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--settle", type=float, default=1.0, help="seconds before a sample")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()

    srv.CACHE.mkdir(parents=True, exist_ok=True)
    os.sched_setaffinity(0, {int(srv.CLIENT_CORE)})
    bin_dir = BENCH / "loadclient" / "target" / "release"  # only the Rust servers need it
    summary: dict = {"machine": report.machine(), "total": args.total}
    results = [check_mode(mode, args, bin_dir) for mode in args.modes.split(",")]
    summary["results"] = results
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "leakcheck.json").write_text(json.dumps(summary, indent=1) + "\n")
    text = markdown(results, summary, args)
    (args.out / "leakcheck.md").write_text(text)
    print(text)
    return 0 if all(r["alive"] and not r["failures"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
