"""Write coalescing: replies to messages a client pipelined are held back and sent together,
yet none is lost, reordered or left waiting on a handler that went off to do something else."""

from __future__ import annotations

import os
import time
import zlib

from conftest import (
    EXAMPLES_DIR,
    OP_BINARY,
    OP_CLOSE,
    OP_TEXT,
    build_frame,
    close_payload,
    open_ws,
)
from test_protocol import cpython_deflate, deflate_ws


def test_pipelined_burst_echoes_in_order_then_close(examples_server):
    messages = [f"message {i} ".encode() * (i % 7 + 1) for i in range(500)]
    with open_ws(examples_server.port, "/echo") as conn:
        burst = b"".join(build_frame(OP_TEXT, m) for m in messages)
        conn.send(burst + build_frame(OP_CLOSE, close_payload(1000)))
        for message in messages:
            frame = conn.recv_frame()
            assert (frame.opcode, frame.payload) == (OP_TEXT, message)
        frame = conn.recv_frame()
        assert (frame.opcode, frame.payload) == (OP_CLOSE, close_payload(1000))
        conn.expect_eof()


def test_held_reply_is_not_kept_while_the_handler_sleeps(fixtures_server):
    with open_ws(fixtures_server.port, "/ack_then_sleep") as conn:
        # Both in one segment: "next" is buffered when the handler acknowledges "sleep".
        conn.send(build_frame(OP_TEXT, b"sleep") + build_frame(OP_TEXT, b"next"))
        started = time.monotonic()
        assert conn.recv_frame().payload == b"ack:sleep"
        assert time.monotonic() - started < 1.0  # the handler sleeps 1.5 s before reading on
        assert conn.recv_frame().payload == b"ack:next"


def test_no_write_coalescing_still_echoes_a_burst(server_factory):
    server = server_factory(EXAMPLES_DIR, "--no-write-coalescing")
    messages = [f"{i}".encode() for i in range(100)]
    with open_ws(server.port, "/echo") as conn:
        conn.send(b"".join(build_frame(OP_TEXT, m) for m in messages))
        assert [conn.recv_frame().payload for _ in messages] == messages


def test_pipelined_deflate_bytes_match_cpython_zlib(examples_server):
    messages = [b"Hello", os.urandom(300), ("repeat " * 500).encode(), b"Hello"] * 8
    expected = cpython_deflate(messages)
    deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    burst = b""
    for message in messages:
        data = deflater.compress(message) + deflater.flush(zlib.Z_SYNC_FLUSH)
        burst += build_frame(OP_BINARY, data[:-4], rsv=4)
    with deflate_ws(examples_server.port) as conn:
        conn.send(burst)
        for want in expected:
            frame = conn.recv_frame()
            assert (frame.opcode, frame.rsv, frame.payload) == (OP_BINARY, 4, want)
