"""Async handlers when tasks interfere with each other or time out: the loop never blocks,
no frame is cut, nothing waits forever. Each case was a real defect once."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import (
    OP_BINARY,
    OP_CLOSE,
    OP_PONG,
    OP_TEXT,
    TESTS_DIR,
    build_frame,
    close_payload,
    open_ws,
)

ASYNC_HANDLERS = TESTS_DIR / "fixtures" / "async_handlers"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import start_server

    server = start_server(ASYNC_HANDLERS, log_dir=tmp_path_factory.mktemp("hostile"))
    yield server
    server.stop()
    assert server.proc.poll() is not None


def _assert_loop_serves(port):
    with open_ws(port, "/echo") as probe:
        probe.sock.settimeout(3)
        for index in range(5):
            probe.send_frame(OP_TEXT, b"probe%d" % index)
            assert probe.recv_frame().payload == b"probe%d" % index


def _status(port, key):
    with open_ws(port, "/hostile?role=status&key=" + key) as conn:
        return conn.recv_frame().payload.decode()


def test_a_pipelining_client_that_never_reads_does_not_block_the_loop(server):
    hog = open_ws(server.port, "/echo")
    batch = build_frame(OP_TEXT, b"x" * 200) * 500

    def flood():
        try:
            for _ in range(400):
                hog.sock.sendall(batch)
        except OSError:
            pass

    flooding = threading.Thread(target=flood, daemon=True)
    flooding.start()
    try:
        time.sleep(1.0)
        _assert_loop_serves(server.port)
    finally:
        hog.sock.close()
        flooding.join(10)


def test_a_send_waiting_for_a_lock_can_time_out(server):
    hog = open_ws(server.port, "/hostile?role=hog")
    try:
        hog.send_frame(OP_TEXT, b"go")
        time.sleep(0.5)
        with open_ws(server.port, "/hostile?role=poke") as poke:
            poke.send_frame(OP_TEXT, b"go")
            poke.sock.settimeout(5)
            assert poke.recv_frame().payload == b"timed out"
        _assert_loop_serves(server.port)
    finally:
        hog.sock.close()


def test_a_send_cut_short_by_a_timeout_leaves_no_half_frame(server):
    with open_ws(server.port, "/hostile?role=cut") as conn:
        conn.send_frame(OP_TEXT, b"go")
        time.sleep(1.0)
        conn.sock.settimeout(10)
        first = conn.recv_frame()
        assert (first.opcode, len(first.payload)) == (OP_BINARY, 32 << 20)
        assert first.payload == b"x" * (32 << 20)
        assert conn.recv_frame().payload in (b"after:timed out", b"after:sent whole")


# The frame the peer was sending when the receive timed out is a data message before its
# Close: close_connection raises ConnectionTerminatedException ("Didn't receive valid ack"),
# as the blocking one does, whether the receive was parked inside the engine (a large frame)
# or waiting for readability with the frame's head buffered. It used to succeed in the first
# case and raise in the second, which looked like a close that never returned.
def test_a_receive_timed_out_in_the_middle_of_a_frame_still_closes(server):
    size = 200 * 1024
    whole = build_frame(OP_BINARY, b"y" * size)
    with open_ws(server.port, "/hostile?role=park") as conn:
        conn.send(whole[:1014])
        conn.sock.settimeout(5)
        # The handler gave up waiting and closed: the Close comes although the frame is cut.
        code, _ = conn.recv_close()
        assert code == 1000
        conn.send(whole[1014:] + build_frame(OP_CLOSE, close_payload(1000)))
        conn.expect_eof()
    deadline = time.monotonic() + 5
    while _status(server.port, "park") == "closing" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _status(server.port, "park") == "close raised ConnectionTerminatedException"
    _assert_loop_serves(server.port)


def test_a_flood_of_control_frames_is_processed_in_a_loop_not_on_the_stack(server):
    # 200,000 unsolicited pongs (legal, and each one handed to the stream's _control) sent in
    # one go, then a message: the receive works through them without growing the native stack
    # and lets the other tasks run on the way.
    flood = build_frame(OP_PONG, b"") * 200_000 + build_frame(OP_TEXT, b"after the pongs")
    with open_ws(server.port, "/echo") as conn:
        conn.sock.settimeout(60)
        conn.send(flood)
        _assert_loop_serves(server.port)
        assert conn.recv_frame().payload == b"after the pongs"
    assert server.proc.poll() is None
    _assert_loop_serves(server.port)


def test_receives_that_time_out_leave_no_waits_behind(server):
    with open_ws(server.port, "/hostile?role=poll") as conn:
        conn.sock.settimeout(10)
        # Every timed-out wait is dropped by the next one: at most the last is still held.
        waiting = conn.recv_frame().payload.decode()
        assert waiting in ("waiting:0", "waiting:1")
        conn.send_frame(OP_TEXT, b"after the timeouts")
        assert conn.recv_frame().payload == b"after the timeouts"
    _assert_loop_serves(server.port)


def test_a_background_receive_ends_with_its_connection(server):
    with open_ws(server.port, "/hostile?role=bg") as conn:
        assert conn.recv_close()[0] == 1000
        conn.send_frame(OP_CLOSE, close_payload(1000))
    deadline = time.monotonic() + 5
    while _status(server.port, "bg") == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _status(server.port, "bg") != "running"


def test_the_server_keeps_no_descriptor_of_finished_connections(server):
    import os

    def fds():
        return len(os.listdir("/proc/%d/fd" % server.pid))

    _assert_loop_serves(server.port)
    before = fds()
    for _ in range(20):
        with open_ws(server.port, "/hostile?role=bg") as conn:
            assert conn.recv_close()[0] == 1000
            conn.send_frame(OP_CLOSE, close_payload(1000))
    time.sleep(0.5)
    assert fds() <= before + 2
