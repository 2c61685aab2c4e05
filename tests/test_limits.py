"""Limits, timeouts and shutdown against hostile or slow peers (issue 5).

Each test starts its own server so that thread counts and RSS are its own.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import threading
import time
import zlib

import pytest
from conftest import (
    FIXTURE_HANDLERS,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    RawConn,
    build_frame,
    close_payload,
    echo_each,
    open_ws,
    upgrade_request,
    ws_connect,
)


def wait_closed(conn: RawConn, timeout: float) -> tuple[float, bytes]:
    """Seconds until the server closes the connection, and whatever it sent first."""
    started = time.monotonic()
    conn.sock.settimeout(timeout)
    received = b""
    try:
        while True:
            chunk = conn.sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except ConnectionResetError:
        pass
    except (socket.timeout, TimeoutError):
        raise AssertionError(f"still open after {timeout}s (got {received[:100]!r})") from None
    return time.monotonic() - started, received


def echo_once(port: int, text: bytes = b"ping") -> float:
    started = time.monotonic()
    with open_ws(port, "/echo") as conn:
        conn.send_frame(OP_TEXT, text)
        assert conn.recv_frame().payload == text
    return time.monotonic() - started


def wait_threads(server, at_most: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        count = server.threads()
        if count <= at_most or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


# ---------------------------------------------------------------------------- handshake


def test_slowloris_dropped_while_others_connect(server_factory):
    server = server_factory(FIXTURE_HANDLERS, "--handshake-timeout", "2")
    dribblers = [RawConn(server.port) for _ in range(20)]
    stop = threading.Event()

    def dribble():
        request = upgrade_request("/echo")
        for index in range(len(request)):
            for conn in dribblers:
                try:
                    conn.send(request[index : index + 1])
                except OSError:
                    pass
            if stop.wait(0.2):
                return

    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        assert echo_once(server.port) < 1.0  # a normal client is not held up
        elapsed, received = wait_closed(dribblers[0], timeout=6)
        assert received == b"" or received.split(b" ")[1] in (b"400", b"408"), received
        assert 1.5 < elapsed + 0.3 < 4.5, elapsed
        for conn in dribblers[1:]:
            wait_closed(conn, timeout=3)
        assert echo_once(server.port) < 1.0
    finally:
        stop.set()
        for conn in dribblers:
            conn.close()


def test_silent_connection_dropped_after_handshake_timeout(server_factory):
    server = server_factory(FIXTURE_HANDLERS, "--handshake-timeout", "1")
    with RawConn(server.port) as conn:
        elapsed, received = wait_closed(conn, timeout=5)
        assert 0.8 < elapsed < 3.0
        assert received == b"" or received.split(b" ")[1] in (b"400", b"408"), received


def test_default_handshake_timeout_does_not_cut_a_slow_but_normal_client(server_factory):
    server = server_factory(FIXTURE_HANDLERS)
    with RawConn(server.port) as conn:
        request = upgrade_request("/echo")
        conn.send(request[:20])
        time.sleep(2.0)
        conn.send(request[20:])
        assert conn.read_response().status == 101


@pytest.mark.parametrize(
    "extra",
    [
        [("X-Big", "a" * 70000)],
        [(f"X-H{i}", "v") for i in range(200)],
        [(f"X-H{i}", "v" * 400) for i in range(170)],  # 64 KiB+ in many normal lines
    ],
    ids=["one-long-line", "many-lines", "large-total"],
)
def test_oversize_head_rejected(server_factory, extra):
    server = server_factory(FIXTURE_HANDLERS)
    with RawConn(server.port) as conn:
        try:
            conn.send(upgrade_request("/echo", extra=extra))
        except OSError:
            pass  # the server may stop reading and reset once the limit is passed
        try:
            response = conn.read_response()
        except (EOFError, ConnectionResetError):
            pytest.fail("no status before the connection closed")
        assert response.status in (400, 431), response
    assert echo_once(server.port) < 1.0


def test_endless_head_is_never_buffered_whole(server_factory):
    server = server_factory(FIXTURE_HANDLERS)
    rss_before = server.rss_kib()
    sent = 0
    stopped = None
    started = time.monotonic()
    with RawConn(server.port) as conn:
        conn.send(b"GET /echo HTTP/1.1\r\nX-Endless: ")
        conn.sock.settimeout(3)
        try:
            while time.monotonic() - started < 15:
                conn.send(b"a" * 65536)
                sent += 65536
        except OSError as exc:
            stopped = exc  # reset by the server, or it stopped reading (send timed out)
    assert stopped is not None, f"the server kept reading an endless header ({sent} bytes)"
    assert sent < 16 << 20, sent
    assert server.rss_kib() - rss_before < 32 * 1024


# --------------------------------------------------------------------------- connections


def test_max_connections_503_and_existing_unaffected(server_factory):
    server = server_factory(FIXTURE_HANDLERS, "--max-connections", "2")
    first = open_ws(server.port, "/echo")
    second = open_ws(server.port, "/echo")
    try:
        with RawConn(server.port) as third:
            response = third.handshake("/echo")
            assert response.status == 503, response
        for conn in (first, second):
            conn.send_frame(OP_TEXT, b"still served")
            assert conn.recv_frame().payload == b"still served"
        assert first.close_handshake() == (1000, b"")
        first.close()
        deadline = time.monotonic() + 5
        while True:
            with RawConn(server.port) as again:
                status = again.handshake("/echo").status
            if status == 101 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == 101
    finally:
        first.close()
        second.close()


def test_ping_timeout_closes_1011(server_factory):
    server = server_factory(FIXTURE_HANDLERS, "--ping-interval", "0.5", "--ping-timeout", "0.5")
    with open_ws(server.port, "/echo") as silent:
        started = time.monotonic()
        frame = silent.recv_frame()
        assert frame.opcode == OP_PING
        # We never answer: the next thing is Close 1011.
        while True:
            frame = silent.recv_frame()
            if frame.opcode != OP_PING:
                break
        assert (frame.opcode, frame.payload[:2]) == (OP_CLOSE, struct.pack("!H", 1011))
        assert time.monotonic() - started < 3.0


def test_ping_answered_keeps_connection(server_factory):
    server = server_factory(FIXTURE_HANDLERS, "--ping-interval", "0.3", "--ping-timeout", "0.5")
    with ws_connect(server, "/echo") as ws:  # the websockets client answers pings
        time.sleep(2.0)
        ws.send("alive")
        assert ws.recv(timeout=5) == "alive"


def test_no_pings_by_default(server_factory):
    server = server_factory(FIXTURE_HANDLERS)
    with open_ws(server.port, "/echo") as conn:
        conn.assert_no_data(1.5)


# ------------------------------------------------------------------------------ shutdown


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_sends_1001_to_every_client_and_exits_0(server_factory, sig):
    server = server_factory(FIXTURE_HANDLERS, "--shutdown-timeout", "5")
    clients = [open_ws(server.port, "/echo") for _ in range(5)]
    try:
        for conn in clients:
            conn.send_frame(OP_TEXT, b"before")
            assert conn.recv_frame().payload == b"before"
        server.proc.send_signal(sig)
        for conn in clients:
            assert conn.recv_close()[0] == 1001
            conn.send_frame(OP_CLOSE, close_payload(1001))
        assert server.proc.wait(timeout=10) == 0
    finally:
        for conn in clients:
            conn.close()


def test_stuck_handler_does_not_outlive_shutdown_timeout(server_factory):
    server = server_factory(FIXTURE_HANDLERS, "--shutdown-timeout", "1")
    with open_ws(server.port, "/stuck") as conn:
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert conn.recv_close()[0] == 1001
        assert server.proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 4.0


def test_shutdown_with_no_clients_is_prompt(server_factory):
    server = server_factory(FIXTURE_HANDLERS)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 2.0


# ---------------------------------------------------------------- resources under abuse


def test_slow_reader_bounded_memory(server_factory):
    server = server_factory(FIXTURE_HANDLERS)
    echo_once(server.port)
    rss_before = server.rss_kib()
    run_id = "rss"
    count = 800  # 50 MiB the handler wants to send while we read nothing
    with open_ws(server.port, f"/backpressure?run={run_id}&count={count}") as conn:
        time.sleep(2.0)
        assert server.rss_kib() - rss_before < 24 * 1024
        for index in range(count):
            frame = conn.recv_frame()
            assert frame.payload[:4] == index.to_bytes(4, "big")
        assert conn.recv_frame().payload == b"done"


def test_garbage_after_handshake_frees_threads(server_factory):
    server = server_factory(FIXTURE_HANDLERS)
    for _ in range(3):
        echo_once(server.port)
    time.sleep(0.5)
    baseline = server.threads()
    conns = [open_ws(server.port, "/echo") for _ in range(40)]
    assert server.threads() > baseline  # one handler thread per open connection
    for index, conn in enumerate(conns):
        conn.send(os.urandom(64 + index))
        # Garbage may announce a long payload: end our side so the server never waits forever.
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # already closed by the server
    for conn in conns:
        wait_closed(conn, timeout=10)
        conn.close()
    assert wait_threads(server, baseline + 1) <= baseline + 1
    assert echo_once(server.port) < 1.0


def test_abrupt_disconnects_free_threads(server_factory):
    server = server_factory(FIXTURE_HANDLERS)
    for _ in range(3):
        echo_once(server.port)
    time.sleep(0.5)
    baseline = server.threads()
    for _ in range(2):
        conns = [open_ws(server.port, "/echo") for _ in range(40)]
        for conn in conns:
            conn.send(build_frame(OP_BINARY, b"x" * 1000)[:50])  # half a frame, then reset
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
    assert wait_threads(server, baseline + 1) <= baseline + 1
    assert echo_once(server.port) < 1.0


def test_deflate_bomb_closed_1009_with_flat_rss(server_factory):
    server = server_factory(FIXTURE_HANDLERS, "--max-message-size", str(1 << 20))
    echo_once(server.port)
    rss_before = server.rss_kib()
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\0" * (1 << 20)
    bomb = b"".join(deflater.compress(chunk) for _ in range(512))  # 512 MiB of zeros
    bomb += deflater.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 1 << 20
    with open_ws(
        server.port, "/echo", extra=[("Sec-WebSocket-Extensions", "permessage-deflate")]
    ) as conn:
        conn.send(build_frame(OP_BINARY, bomb[:-4], rsv=4))
        assert conn.recv_close()[0] == 1009
    peak = int(server.proc_status()["VmHWM"].split()[0])
    assert peak - rss_before < 48 * 1024, (rss_before, peak)
    assert echo_once(server.port) < 1.0


def test_default_max_message_size_is_64_mib(server_factory):
    server = server_factory(FIXTURE_HANDLERS)
    with open_ws(server.port, "/echo") as conn:
        conn.send(struct.pack("!BBQ", 0x82, 0xFF, (64 << 20) + 1) + b"\0\0\0\0")
        assert conn.recv_close()[0] == 1009


def test_many_concurrent_connections(server_factory):
    server = server_factory(FIXTURE_HANDLERS)
    conns = []
    try:
        for _ in range(200):
            conns.append(open_ws(server.port, "/echo"))
        echo_each(conns)
    finally:
        for conn in conns:
            conn.close()


def test_file_descriptor_exhaustion_does_not_kill_the_acceptor(server_factory):
    import resource

    def low_fd_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))

    server = server_factory(FIXTURE_HANDLERS, preexec_fn=low_fd_limit)
    echo_once(server.port)
    flood = []
    try:
        for _ in range(150):  # more connections than the server has descriptors
            try:
                flood.append(socket.create_connection(("127.0.0.1", server.port), timeout=2))
            except OSError:
                break
        time.sleep(1.0)
        assert server.proc.poll() is None, "the server died when it ran out of descriptors"
    finally:
        for sock in flood:
            sock.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            echo_once(server.port)
            break
        except (OSError, EOFError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert server.proc.poll() is None
