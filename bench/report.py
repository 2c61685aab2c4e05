"""Medians over rounds, the Markdown table and ratios, and a description of the machine."""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path

NAMES = {
    "ours": "ours (pywebsocket-rs)",
    "ours-greenlets": "ours --greenlets",
    "ours-async": "ours, async def handler",
    "ours-async-uvloop": "ours, async def handler, uvloop",
    "pywebsocket3": "pywebsocket3 4.0.2",
    "websockets": "websockets 17.4",
    "picows": "picows 2.3.1",
    "picows-uvloop": "picows 2.3.1, uvloop",
    "granian": "granian 2.8.7 (RSGI)",
    "socketify": "socketify 0.0.31",
    "rust": "Rust tokio-tungstenite",
    "rust-threads": "Rust, thread per conn",
}
ECHO = ("c10x16", "c100x16", "c1000x16", "c10x1k16", "c1x1m", "deflate")


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_at_start": os.getloadavg()[0],
    }


def medians(runs: dict) -> dict:
    """Median of every numeric field over rounds; errors are summed so none hides."""
    out: dict = {}
    for case, per_server in runs.items():
        for server, results in per_server.items():
            merged: dict = {}
            keys = {
                k
                for r in results
                for k, v in r.items()
                if isinstance(v, (int, float)) and k != "errors"
            }
            for key in sorted(keys):
                values = [r[key] for r in results if isinstance(r.get(key), (int, float))]
                merged[key] = statistics.median(values)
            merged["errors"] = sum(r.get("errors", 0) for r in results)
            merged["error_samples"] = [s for r in results for s in r.get("error_samples", [])][:5]
            merged["rounds"] = len(results)
            out.setdefault(case, {})[server] = merged
    return out


def brief(case: str, r: dict) -> str:
    err = f" ERRORS {r.get('errors')}: {r.get('error_samples', [])[:2]}" if r.get("errors") else ""
    return cell(case, r) + f" | cpu {r.get('cpu_us_per_op', '-')} µs/op" + err


def rate(value: float) -> str:
    return (
        f"{value / 1000:.1f}k"
        if value >= 10_000
        else f"{value:.0f}"
        if value >= 100
        else f"{value:.1f}"
    )


def cell(case: str, r: dict | None) -> str:
    if not r:
        return "–"
    if r.get("errors") and not (r.get("msg_per_s") or r.get("handshakes_per_s") or r.get("held")):
        return "failed"
    mark = " ⚠" if r.get("errors") else ""
    if case in ECHO:
        return f"{rate(r.get('msg_per_s', 0))} msg/s, p99 {r.get('p99_us', 0) / 1000:.1f} ms{mark}"
    if case == "handshake":
        return f"{rate(r.get('handshakes_per_s', 0))}/s{mark}"
    if case == "idle1k":
        return f"{r.get('rss_per_conn_kib', 0):.1f} KiB{mark}"
    wanted, echoed = int(r.get("conns", 0)), int(r.get("echoed", 0))
    return f"{echoed:,}/{wanted:,} echoed, {r.get('rss_per_conn_kib', 0):.1f} KiB/conn{mark}"


def key_value(case: str, r: dict | None) -> tuple[float, bool] | None:
    """The case's headline number and whether higher is better."""
    if not r:
        return None
    if case in ECHO:
        return r.get("msg_per_s", 0), True
    if case == "handshake":
        return r.get("handshakes_per_s", 0), True
    return r.get("rss_per_conn_kib", 0), False


def ratio(case: str, ours: dict | None, other: dict | None) -> str:
    a, b = key_value(case, ours), key_value(case, other)
    if not a or not b or not b[0] or not a[0]:
        return "–"
    value = a[0] / b[0]
    return f"{value:.2f}×" if a[1] else f"{value:.2f}× memory"


def relative_table(results: dict, variant: str) -> list[str]:
    """Ratios of one of our servers against the others in the same run."""
    lines = [
        "",
        f"{NAMES[variant]} relative to the others (throughput: higher is better; memory: "
        "lower is better):",
        "",
        "| case | vs pywebsocket3 | vs picows | vs Rust floor | CPU ÷ Rust CPU |",
        "| --- | --- | --- | --- | --- |",
    ]
    for case in results["cases"]:
        per = results["median"].get(case["name"], {})
        ours, rust = per.get(variant), per.get("rust")
        if not ours:
            continue
        cpu = "–"
        if rust and ours.get("cpu_us_per_op") and rust.get("cpu_us_per_op"):
            cpu = f"{ours['cpu_us_per_op'] / rust['cpu_us_per_op']:.2f}×"
        lines.append(
            f"| {case['label']} | {ratio(case['name'], ours, per.get('pywebsocket3'))} | "
            f"{ratio(case['name'], ours, per.get('picows'))} | "
            f"{ratio(case['name'], ours, rust)} | {cpu} |"
        )
    return lines


def markdown(results: dict) -> str:
    servers, med = results["servers"], results["median"]
    m = results["machine"]
    lines = [
        "# Echo benchmark",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, CPython {m['python']} "
        f"(load average {m['load_avg_at_start']:.1f} at start: the machine is shared). "
        f"Server pinned to core 0, load client to core 1; medians of {results['rounds']} "
        "interleaved rounds; every echo verified byte for byte. ⚠ marks a cell whose runs had "
        "errors (see results.json).",
        "",
        "| case | " + " | ".join(NAMES[s] for s in servers) + " |",
        "| --- |" + " --- |" * len(servers),
    ]
    for case in results["cases"]:
        row = [cell(case["name"], med.get(case["name"], {}).get(s)) for s in servers]
        lines.append(f"| {case['label']} | " + " | ".join(row) + " |")
    lines += [
        "",
        "Server CPU time per message (per handshake), µs (lower is better):",
        "",
        "| case | " + " | ".join(NAMES[s] for s in servers) + " |",
        "| --- |" + " --- |" * len(servers),
    ]
    for case in results["cases"]:
        if case["name"] in ECHO or case["name"] == "handshake":
            row = [
                f"{med.get(case['name'], {}).get(s, {}).get('cpu_us_per_op', 0):.1f}"
                if med.get(case["name"], {}).get(s)
                else "–"
                for s in servers
            ]
            lines.append(f"| {case['label']} | " + " | ".join(row) + " |")
    for variant in ("ours", "ours-greenlets", "ours-async", "ours-async-uvloop"):
        if variant in servers:
            lines += relative_table(results, variant)
    return "\n".join(lines) + "\n"
