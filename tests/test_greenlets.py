"""--greenlets: every handler of a process runs as a greenlet on one hub thread.

Much of the rest of the suite runs in this mode too (.ci/run repeats the protocol, examples,
handshake, coalescing, limits, handler and Autobahn core suites with
PYWEBSOCKET_TEST_SERVER_ARGS=--greenlets); this module checks what is particular to the
hub: one thread for all connections, waits that never block the others, and the ways out
(helper threads, forked workers).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from conftest import (
    EXAMPLES_DIR,
    FIXTURE_HANDLERS,
    OP_BINARY,
    OP_CLOSE,
    OP_TEXT,
    RawConn,
    accept_for,
    close_payload,
    echo_each,
    new_key,
    open_ws,
    upgrade_request,
    ws_connect,
)

pytest.importorskip("greenlet", reason="--greenlets needs the greenlet package")


@pytest.fixture
def hub_server(server_factory):
    return server_factory(FIXTURE_HANDLERS, "--greenlets")


def echo_once(port: int, text: bytes = b"ping") -> None:
    with open_ws(port, "/echo") as conn:
        conn.send_frame(OP_TEXT, text)
        assert conn.recv_frame().payload == text


def echo_on_all(port: int, count: int) -> list:
    """`count` open connections, each having echoed one message (sent to all first)."""
    conns = [open_ws(port, "/echo") for _ in range(count)]
    echo_each(conns, b"m")
    return conns


def test_connections_share_the_hub_thread(hub_server):
    echo_once(hub_server.port)
    baseline = hub_server.threads()
    conns = echo_on_all(hub_server.port, 60)
    try:
        # Handler threads would add 60; the hub adds none (a spare thread or two at most).
        assert hub_server.threads() <= baseline + 2
    finally:
        for conn in conns:
            conn.close()


def test_pipelined_traffic_on_many_connections_keeps_every_order(hub_server):
    # Many greenlets runnable in one batch hand the thread to each other directly; handlers
    # that return (a Close) in the middle of a batch give it back to the loop instead.
    conns = [open_ws(hub_server.port, "/echo") for _ in range(40)]
    try:
        for index, conn in enumerate(conns):
            for seq in range(25):
                conn.send_frame(OP_TEXT, b"%d:%d" % (index, seq))
            if index % 2:
                conn.send_frame(OP_CLOSE, close_payload(1000))
        for index, conn in enumerate(conns):
            for seq in range(25):
                assert conn.recv_frame().payload == b"%d:%d" % (index, seq)
            if index % 2:
                assert conn.recv_close()[0] == 1000
        # The connections left open still echo: nobody is parked for good.
        echo_each(conns[::2], b"again")
    finally:
        for conn in conns:
            conn.close()


def test_many_handshakes_in_one_batch_all_complete(hub_server):
    # Every new greenlet starts from the hub's loop: one started from a parked handler's
    # stack would sit on top of it, and hundreds of them exceeded the recursion limit.
    conns = [RawConn(hub_server.port) for _ in range(300)]
    try:
        keys = [new_key() for _ in conns]
        for conn, key in zip(conns, keys):
            conn.send(upgrade_request("/echo", key=key))
        for conn, key in zip(conns, keys):
            response = conn.read_response()
            assert response.status == 101
            assert response.header("Sec-WebSocket-Accept") == accept_for(key)
        echo_each(conns, b"h")
    finally:
        for conn in conns:
            conn.close()


def test_finished_greenlets_are_freed(hub_server):
    def cycle(count: int) -> None:
        for index in range(count):
            with open_ws(hub_server.port, "/echo") as conn:
                conn.send_frame(OP_TEXT, b"c%d" % index)
                assert conn.recv_frame().payload == b"c%d" % index
                conn.send_frame(OP_CLOSE, close_payload(1000))
                assert conn.recv_close()[0] == 1000

    cycle(200)
    time.sleep(0.5)
    rss_after_warmup = hub_server.rss_kib()
    cycle(1000)
    time.sleep(0.5)
    # A leaked greenlet keeps its saved stack, Python frames and connection (tens of KiB each).
    assert hub_server.rss_kib() - rss_after_warmup < 4 * 1024


def test_large_messages_on_many_connections_at_once(hub_server):
    errors = []

    def client(index: int) -> None:
        try:
            compression = "deflate" if index % 2 else None
            with ws_connect(hub_server, "/echo", max_size=None, compression=compression) as ws:
                for round_ in range(3):
                    data = bytes([index, round_]) * (2 << 20)
                    ws.send(data)
                    assert ws.recv(timeout=30) == data
                    text = f"{index}:{round_}:" + "é" * 100000
                    ws.send(text)
                    assert ws.recv(timeout=30) == text
        except Exception as exc:  # noqa: BLE001 - reported below, per client
            errors.append(f"client {index}: {exc!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert not any(t.is_alive() for t in threads)


def test_reader_that_stops_reading_does_not_stall_the_others(hub_server):
    count = 300  # ~19 MiB the handler wants to send: far more than the socket buffers hold
    with open_ws(hub_server.port, f"/backpressure?run=hub&count={count}") as slow:
        time.sleep(0.5)  # its handler is now waiting for room to write
        started = time.monotonic()
        for _ in range(20):
            echo_once(hub_server.port, b"still served")
        assert time.monotonic() - started < 5.0
        with open_ws(hub_server.port, "/backpressure?status=hub") as status:
            sent = int(status.recv_frame().payload)
        assert 0 < sent < count
        # Nothing the handler sent is lost or reordered once the reader reads again.
        for index in range(count):
            frame = slow.recv_frame()
            assert frame.opcode == OP_BINARY
            assert frame.payload[:4] == index.to_bytes(4, "big")
            assert len(frame.payload) == 64 * 1024
        done = slow.recv_frame()
        assert (done.opcode, done.payload) == (OP_TEXT, b"done")


def test_protocol_errors_close_one_connection_only(hub_server):
    with open_ws(hub_server.port, "/echo") as bystander:
        with open_ws(hub_server.port, "/echo") as bad:
            bad.send_frame(OP_TEXT, b"x", rsv=4)
            assert bad.recv_close()[0] == 1002
        with open_ws(hub_server.port, "/echo") as bad:
            bad.send_frame(OP_TEXT, b"\xff\xfe")
            assert bad.recv_close()[0] == 1007
        with open_ws(hub_server.port, "/tr_value_error") as failing:
            # An exception in the handler drops the connection (as with handler threads).
            assert failing.recv_frame().payload == b"started"
            failing.expect_eof()
        bystander.send_frame(OP_TEXT, b"fine")
        assert bystander.recv_frame().payload == b"fine"


def test_helper_thread_may_use_the_stream(hub_server):
    # two_threads: a helper thread receives and answers while the handler sends ticks.
    with open_ws(hub_server.port, "/two_threads") as conn:
        conn.send_frame(OP_TEXT, b"a")
        echoed, ticks = False, 0
        while not echoed or ticks < 200:
            frame = conn.recv_frame()
            assert frame.opcode == OP_TEXT
            if frame.payload == b"echo:a":
                echoed = True
            else:
                assert frame.payload == b"tick:%d" % ticks
                ticks += 1
        conn.send_frame(OP_TEXT, b"stop")
        assert conn.recv_frame().payload == b"finished"


def test_forked_workers_each_run_a_hub(server_factory):
    server = server_factory(EXAMPLES_DIR, "--greenlets", "--workers", "2")
    for conn in echo_on_all(server.port, 16):
        conn.close()
    assert server.stop() == 0


def test_without_the_greenlet_package_start_up_fails_clearly(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "greenlet.py").write_text("raise ImportError('greenlet is not installed')\n")
    env = dict(os.environ, PYTHONPATH=str(blocker))
    result = subprocess.run(
        [sys.executable, "-m", "pywebsocket3.standalone", "-H", "127.0.0.1", "-p", "0"]
        + ["-d", str(FIXTURE_HANDLERS), "--greenlets"],
        capture_output=True,
        timeout=30,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert b"--greenlets needs the greenlet package" in result.stderr
