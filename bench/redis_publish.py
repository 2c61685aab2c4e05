"""Publishing to Redis from Python: redis-py against pywebsocket3.channels (redis-rs).

Run by hand with a Python that has both (``pip install redis hiredis``, and this package):
    python bench/redis_publish.py [--messages 100000] [--size 64]
It starts its own redis-server on a free loopback port, with one subscriber counting what
arrives, and reports for each client: the caller's time per publish (what a handler pays),
the process CPU per message and the time until the subscriber has every message.
"""

import argparse
import os
import resource
import shutil
import socket
import subprocess
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis():
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="redis-bench-")
    proc = subprocess.Popen(
        [shutil.which("redis-server"), "--port", str(port), "--save", "", "--appendonly", "no"]
        + ["--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


class Counter:
    """A raw RESP subscriber that counts messages on one pattern."""

    def __init__(self, port, pattern):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"PSUBSCRIBE %s\r\n" % pattern.encode())
        self.count = 0
        self.marker = b"pmessage"
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        tail = b""
        while True:
            data = self.sock.recv(1 << 20)
            if not data:
                return
            data = tail + data
            self.count += data.count(self.marker)
            tail = data[-len(self.marker) :]
            self.count -= tail.count(self.marker)

    def wait(self, total, timeout=60):
        deadline = time.monotonic() + timeout
        while self.count < total and time.monotonic() < deadline:
            time.sleep(0.001)
        return self.count


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_redis_py(port, messages, payload):
    import redis

    client = redis.Redis(port=port)
    counter = Counter(port, "bench:py:*")
    time.sleep(0.2)
    start, cpu_start = time.perf_counter(), cpu()
    pipe = client.pipeline(transaction=False)
    for n in range(messages):
        pipe.publish("bench:py:room", payload)
        if n % 1000 == 999:
            pipe.execute()
    pipe.execute()
    caller = time.perf_counter() - start
    got = counter.wait(messages)
    return caller, time.perf_counter() - start, cpu() - cpu_start, got


def run_ours(port, messages, payload):
    from pywebsocket3 import channels

    channels.configure(f"redis://127.0.0.1:{port}/0")
    counter = Counter(port, "pywebsocket3:0:*")
    time.sleep(0.2)
    start, cpu_start = time.perf_counter(), cpu()
    for _ in range(messages):
        channels.publish("room", payload)
    caller = time.perf_counter() - start
    channels.flush(60)
    lost = channels.stats()["redis_lost"]
    got = counter.wait(messages - lost)
    return caller, time.perf_counter() - start, cpu() - cpu_start, got


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    payload = os.urandom(args.size)
    proc, port = start_redis()
    try:
        print(f"{args.messages} publishes of {args.size} B, one subscriber counting")
        print(
            "| client | caller µs/publish | all delivered (s) | msg/s | process CPU µs/msg | got |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for name, run in (("redis-py (pipeline of 1000)", run_redis_py), ("ours", run_ours)):
            caller, total, used, got = run(port, args.messages, payload)
            print(
                f"| {name} | {caller / args.messages * 1e6:.2f} | {total:.2f} | "
                f"{args.messages / total:,.0f} | {used / args.messages * 1e6:.2f} | {got} |"
            )
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
