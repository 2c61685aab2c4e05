"""Draws bench/results/results.png from results.json: one panel per case, one bar per server.

Usage: python plot.py results.json results.png   (needs matplotlib)
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from report import ECHO, NAMES, key_value  # noqa: E402

COLORS = {
    "ours": "#d62728",
    "ours-greenlets": "#8c1c13",
    "ours-async": "#e377c2",
    "ours-async-uvloop": "#f7b6d2",
    "pywebsocket3": "#7f7f7f",
    "websockets": "#1f77b4",
    "picows": "#2ca02c",
    "picows-uvloop": "#98df8a",
    "granian": "#17becf",
    "socketify": "#bcbd22",
    "rust": "#ff7f0e",
    "rust-threads": "#9467bd",
}
# Axis labels: the first word of the name, unless that is ambiguous.
SHORT = {
    "rust": "Rust tokio",
    "rust-threads": "Rust threads",
    "ours-greenlets": "ours greenlets",
    "ours-async": "ours async",
    "ours-async-uvloop": "ours async uvloop",
    "picows-uvloop": "picows uvloop",
}


def main(source: str, target: str) -> None:
    results = json.loads(open(source).read())
    cases = results["cases"]
    cols = 4
    rows = (len(cases) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax, case in zip(axes.flat, cases):
        per = results["median"].get(case["name"], {})
        names = [s for s in results["servers"] if s in per]
        values = [(key_value(case["name"], per[s]) or (0, True))[0] for s in names]
        ax.bar(range(len(names)), values, color=[COLORS[s] for s in names])
        labels = [SHORT.get(s, NAMES[s].split(" ")[0]) for s in names]
        ax.set_xticks(range(len(names)), labels, rotation=30, fontsize=8)
        unit = (
            "msg/s"
            if case["name"] in ECHO
            else "handshakes/s"
            if case["name"] == "handshake"
            else "KiB/conn"
        )
        ax.set_title(case["label"], fontsize=9)
        ax.set_ylabel(unit, fontsize=8)
        for i, v in enumerate(values):
            ax.text(
                i, v, f"{v:,.0f}" if v >= 100 else f"{v:.1f}", ha="center", va="bottom", fontsize=7
            )
    for ax in list(axes.flat)[len(cases) :]:
        ax.axis("off")
    fig.suptitle("WebSocket echo, server on one core (medians; higher is better except memory)")
    fig.tight_layout()
    fig.savefig(target, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
