"""Echo load with permessage-deflate on a JSON-like corpus (tokio-tungstenite has no deflate).

Usage: python deflate_client.py --url ws://127.0.0.1:PORT/echo [--conns N] [--duration SEC]
Prints one JSON object like the Rust load client's: msg_per_s, p50/p99/max latency, errors.
"""

import argparse
import asyncio
import json
import random
import time

from websockets.asyncio.client import connect


def corpus(count: int = 64) -> list[str]:
    """Deterministic JSON documents of 1-4 KiB, repetitive the way API traffic is."""
    rng = random.Random(6455)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    docs = []
    for n in range(count):
        items = [
            {
                "id": n * 1000 + i,
                "name": f"{rng.choice(words)}-{rng.choice(words)}",
                "price": round(rng.uniform(1, 500), 2),
                "tags": rng.sample(words, 3),
                "active": rng.random() < 0.5,
                "updated": f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z",
            }
            for i in range(rng.randint(8, 30))
        ]
        docs.append(json.dumps({"page": n, "items": items}))
    return docs


async def one_connection(url, docs, deadline, latencies, errors):
    try:
        async with connect(url, compression="deflate", max_size=None) as ws:
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            if "permessage-deflate" not in extensions:
                errors.append("permessage-deflate not negotiated")
                return 0
            count = 0
            while time.monotonic() < deadline:
                doc = docs[count % len(docs)]
                sent = time.perf_counter()
                await ws.send(doc)
                echo = await asyncio.wait_for(ws.recv(), 20)
                latencies.append(time.perf_counter() - sent)
                if echo != doc:
                    errors.append(f"echo {count} differs")
                    return count
                count += 1
            return count
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none hidden
        errors.append(f"{type(exc).__name__}: {exc}")
        return 0


async def main(args) -> dict:
    docs = corpus()
    latencies: list[float] = []
    errors: list[str] = []
    begun = time.monotonic()
    deadline = begun + args.duration
    counts = await asyncio.gather(
        *(one_connection(args.url, docs, deadline, latencies, errors) for _ in range(args.conns))
    )
    seconds = time.monotonic() - begun
    latencies.sort()

    def pct(q):
        if not latencies:
            return 0
        return round(latencies[max(0, int(len(latencies) * q + 0.999999) - 1)] * 1e6)

    total = sum(counts)
    return {
        "conns": args.conns,
        "msgs": total,
        "total_msgs": total,
        "mean_size": round(sum(map(len, docs)) / len(docs)),
        "seconds": round(seconds, 3),
        "msg_per_s": round(total / seconds, 3),
        "p50_us": pct(0.5),
        "p99_us": pct(0.99),
        "max_us": round(latencies[-1] * 1e6) if latencies else 0,
        "errors": len(errors),
        "error_samples": errors[:5],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--conns", type=int, default=4)
    parser.add_argument("--duration", type=float, default=5)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
