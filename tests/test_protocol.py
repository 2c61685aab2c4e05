"""RFC 6455 framing against the echo handler with raw sockets (§3.3, and our deliberate
deviations from the original: 1002 for reserved bits and unknown opcodes, control frames
allowed between fragments, 1007 as soon as invalid UTF-8 is seen, 1002 for invalid close
codes, 1009 past --max-message-size)."""

from __future__ import annotations

import os
import struct
import zlib

import pytest
from conftest import (
    EXAMPLES_DIR,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    build_frame,
    close_payload,
    open_ws,
)

CLOSE_1002 = b"\x88\x02\x03\xea"
CLOSE_1007 = b"\x88\x02\x03\xef"
CLOSE_1009 = b"\x88\x02\x03\xf1"


def assert_fails_with(conn, expected: bytes) -> None:
    """The server sends exactly this Close frame, then TCP closes (at once, or after our
    Close reply: the original waits for one after some codes)."""
    assert conn.read_exact(len(expected)) == expected
    try:
        conn.send(build_frame(OP_CLOSE, expected[2:]))
    except OSError:
        pass  # the server had already closed TCP
    conn.expect_eof()


def echo(conn, opcode: int, payload: bytes) -> None:
    conn.send_frame(opcode, payload)
    frame = conn.recv_frame()
    assert (frame.opcode, frame.fin, frame.rsv, frame.masked) == (opcode, 1, 0, False)
    assert frame.payload == payload


@pytest.fixture
def ws(examples_server):
    conn = open_ws(examples_server.port, "/echo")
    yield conn
    conn.close()


# ------------------------------------------------------------------------ well-formed


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 1 << 20])
def test_echo_sizes_use_minimal_length_form(ws, size):
    payload = os.urandom(size)
    ws.send_frame(OP_BINARY, payload)
    head = ws.read_exact(2)
    assert head[0] == 0x82
    if size < 126:
        assert head[1] == size
    elif size < 65536:
        assert head[1] == 126 and struct.unpack("!H", ws.read_exact(2))[0] == size
    else:
        assert head[1] == 127 and struct.unpack("!Q", ws.read_exact(8))[0] == size
    assert ws.read_exact(size) == payload


def test_text_utf8_round_trip(ws):
    echo(ws, OP_TEXT, "κόσμε 日本 \U0001f600".encode())


def test_non_minimal_length_is_accepted(ws):
    ws.send(build_frame(OP_TEXT, b"short", length_form=64))
    frame = ws.recv_frame()
    assert frame.payload == b"short"


def test_fragmented_text_reassembled(ws):
    ws.send_frame(OP_TEXT, b"Hel", fin=False)
    ws.send_frame(OP_CONT, b"lo ", fin=False)
    ws.send_frame(OP_CONT, b"World", fin=True)
    frame = ws.recv_frame()
    assert (frame.opcode, frame.fin, frame.payload) == (OP_TEXT, 1, b"Hello World")


def test_fragmented_binary_with_empty_final_frame(ws):
    ws.send_frame(OP_BINARY, b"\x00\x01", fin=False)
    ws.send_frame(OP_CONT, b"", fin=True)
    frame = ws.recv_frame()
    assert (frame.opcode, frame.payload) == (OP_BINARY, b"\x00\x01")


def test_utf8_sequence_split_across_fragments(ws):
    data = "€uro".encode()  # € is 3 bytes
    ws.send_frame(OP_TEXT, data[:1], fin=False)
    ws.send_frame(OP_CONT, data[1:2], fin=False)
    ws.send_frame(OP_CONT, data[2:], fin=True)
    assert ws.recv_frame().payload == data


def test_ping_answered_with_same_payload(ws):
    ws.send_frame(OP_PING, b"x" * 125)
    frame = ws.recv_frame()
    assert (frame.opcode, frame.payload) == (OP_PONG, b"x" * 125)


def test_ping_between_fragments_is_answered(ws):
    """RFC 6455 §5.4 (the original closed with 1002 here)."""
    ws.send_frame(OP_TEXT, b"frag", fin=False)
    ws.send_frame(OP_PING, b"mid")
    pong = ws.recv_frame()
    assert (pong.opcode, pong.payload) == (OP_PONG, b"mid")
    ws.send_frame(OP_PONG, b"unsolicited")
    ws.send_frame(OP_CONT, b"ment", fin=True)
    frame = ws.recv_frame()
    assert (frame.opcode, frame.payload) == (OP_TEXT, b"fragment")


def test_client_close_gets_reply_and_tcp_close(ws):
    ws.send_frame(OP_CLOSE, close_payload(1000, b"done"))
    assert ws.read_exact(4) == b"\x88\x02\x03\xe8"
    ws.expect_eof()


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
)
def test_valid_close_codes_get_normal_reply(ws, code):
    ws.send_frame(OP_CLOSE, close_payload(code))
    assert ws.read_exact(4) == b"\x88\x02\x03\xe8"
    ws.expect_eof()


def test_data_after_close_handshake_is_not_echoed(ws):
    ws.send(build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_TEXT, b"late"))
    assert ws.read_exact(4) == b"\x88\x02\x03\xe8"
    ws.expect_eof()


# ------------------------------------------------------------------------ malformed


def test_unmasked_frame_1002(ws):
    ws.send(build_frame(OP_TEXT, b"hello", mask=False))
    assert_fails_with(ws, CLOSE_1002)


def test_continuation_without_start_1002(ws):
    ws.send_frame(OP_CONT, b"", fin=True)
    assert_fails_with(ws, CLOSE_1002)


@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
def test_reserved_bits_without_extension_1002_and_tcp_closes_at_once(ws, rsv):
    # The original sent 1003 and waited for the client's Close; we do not wait.
    ws.send_frame(OP_TEXT, b"x", rsv=rsv)
    assert ws.read_exact(len(CLOSE_1002)) == CLOSE_1002
    ws.expect_eof(timeout=1.0)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcode_1002_and_tcp_closes_at_once(ws, opcode):
    ws.send_frame(opcode, b"x")
    assert ws.read_exact(len(CLOSE_1002)) == CLOSE_1002
    ws.expect_eof(timeout=1.0)


def test_control_frame_over_125_bytes_1002(ws):
    ws.send_frame(OP_PING, b"p" * 126)
    assert_fails_with(ws, CLOSE_1002)


def test_fragmented_control_frame_1002(ws):
    ws.send_frame(OP_PING, b"p", fin=False)
    assert_fails_with(ws, CLOSE_1002)


def test_new_data_frame_inside_fragmented_message_1002(ws):
    ws.send_frame(OP_TEXT, b"a", fin=False)
    ws.send_frame(OP_TEXT, b"b", fin=True)
    assert_fails_with(ws, CLOSE_1002)


def test_64bit_length_with_top_bit_set_1002(ws):
    ws.send(struct.pack("!BBQ", 0x82, 0xFF, 1 << 63) + b"\x00\x00\x00\x00")
    assert_fails_with(ws, CLOSE_1002)


def test_invalid_utf8_text_1007(ws):
    ws.send_frame(OP_TEXT, b"\x80")
    assert_fails_with(ws, CLOSE_1007)


def test_truncated_utf8_at_message_end_1007(ws):
    ws.send_frame(OP_TEXT, "€".encode()[:2])
    assert_fails_with(ws, CLOSE_1007)


@pytest.mark.parametrize("bad", [b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xff"])
def test_invalid_utf8_in_first_fragment_fails_at_once(ws, bad):
    """The server must not wait for the rest of the message (the original did)."""
    ws.send_frame(OP_TEXT, b"ok " + bad, fin=False)
    assert_fails_with(ws, CLOSE_1007)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_CONT])
def test_invalid_utf8_fails_before_the_frame_is_complete(ws, opcode):
    """A frame declaring 1000 bytes whose first 10 hold invalid UTF-8 fails at once
    (Autobahn 6.4.3/6.4.4 strict): the rest of its payload never comes."""
    if opcode == OP_CONT:
        ws.send_frame(OP_TEXT, b"ok ", fin=False)
    frame = build_frame(opcode, b"abc\xff\xfe" + b"x" * 995)
    ws.send(frame[: len(frame) - 990])
    ws.sock.settimeout(1.0)
    assert ws.read_exact(len(CLOSE_1007)) == CLOSE_1007


def test_close_with_one_byte_body_1002(ws):
    ws.send_frame(OP_CLOSE, b"\x03")
    assert_fails_with(ws, CLOSE_1002)


@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
)
def test_invalid_close_code_1002(ws, code):
    ws.send_frame(OP_CLOSE, close_payload(code))
    assert_fails_with(ws, CLOSE_1002)


def test_close_reason_invalid_utf8_fails(ws):
    ws.send_frame(OP_CLOSE, close_payload(1000, b"\xff\xfe"))
    head = ws.read_exact(4)
    assert head in (CLOSE_1002, CLOSE_1007)
    ws.expect_eof()  # our Close was already sent: no further reply is expected


# ------------------------------------------------------------------ permessage-deflate


def deflate_ws(port: int, offer: str = "permessage-deflate", path: str = "/echo"):
    conn = open_ws(port, path, extra=[("Sec-WebSocket-Extensions", offer)])
    return conn


def cpython_deflate(messages: list[bytes], no_context_takeover: bool = False) -> list[bytes]:
    """What the original sends: zlib level 6, raw window 15, sync flush, tail removed."""
    out = []
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    for message in messages:
        if no_context_takeover:
            compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        out.append(data[:-4] or b"\x00")
    return out


def test_deflate_hello_bytes_exact(examples_server):
    with deflate_ws(examples_server.port) as conn:
        assert conn.response.header("Sec-WebSocket-Extensions") == "permessage-deflate"
        conn.send(build_frame(OP_TEXT, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv=4))
        assert conn.read_exact(9) == b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00"
        conn.send(build_frame(OP_TEXT, b"\xf2\x00\x11\x00\x00", rsv=4))
        # Context takeover: the second Hello is a back-reference.
        assert conn.read_exact(7) == b"\xc1\x05\xf2\x00\x11\x00\x00"


def test_deflate_bytes_match_cpython_zlib(examples_server):
    messages = [b"Hello", b"", b"\x00", ("repeat " * 5000).encode(), os.urandom(3000), b"Hello"]
    expected = cpython_deflate(messages)
    with deflate_ws(examples_server.port) as conn:
        inflater = zlib.decompressobj(-15)
        deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        for message, want in zip(messages, expected):
            data = deflater.compress(message) + deflater.flush(zlib.Z_SYNC_FLUSH)
            conn.send(build_frame(OP_BINARY, data[:-4], rsv=4))
            frame = conn.recv_frame()
            assert (frame.opcode, frame.rsv) == (OP_BINARY, 4)
            assert frame.payload == want
            assert inflater.decompress(frame.payload + b"\x00\x00\xff\xff") == message


def test_deflate_server_no_context_takeover(examples_server):
    offer = "permessage-deflate; server_no_context_takeover"
    with deflate_ws(examples_server.port, offer) as conn:
        assert conn.response.header("Sec-WebSocket-Extensions") == offer
        for _ in range(2):
            conn.send(build_frame(OP_TEXT, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv=4))
            assert conn.read_exact(9) == b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00"


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; client_no_context_takeover; client_max_window_bits",
    ],
)
def test_deflate_client_context_kept_unless_agreed(examples_server, offer):
    """client_no_context_takeover in an offer is only a hint (RFC 7692 7.1.1.1): unless the
    response accepts it, the client may still refer back to earlier messages (Autobahn does)."""
    with deflate_ws(examples_server.port, offer) as conn:
        answer = conn.response.header("Sec-WebSocket-Extensions")
        assert answer is not None and answer.startswith("permessage-deflate")
        if "client_no_context_takeover" in answer:
            pytest.skip("the server accepted client_no_context_takeover: back-references banned")
        conn.send(build_frame(OP_TEXT, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv=4))
        first = conn.recv_frame()
        conn.send(build_frame(OP_TEXT, b"\xf2\x00\x11\x00\x00", rsv=4))  # "Hello" again
        second = conn.recv_frame()
        inflater = zlib.decompressobj(-15)
        for frame in (first, second):
            assert frame.opcode == OP_TEXT, frame
            assert inflater.decompress(frame.payload + b"\0\0\xff\xff") == b"Hello"


def test_deflate_compressed_message_in_two_fragments(examples_server):
    with deflate_ws(examples_server.port) as conn:
        conn.send(build_frame(OP_TEXT, b"\xf2\x48\xcd\xc9", rsv=4, fin=False))
        conn.send(build_frame(OP_CONT, b"\xc9\x07\x00", fin=True))
        assert conn.read_exact(9) == b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00"


def test_deflate_uncompressed_message_passes_through(examples_server):
    with deflate_ws(examples_server.port) as conn:
        conn.send(build_frame(OP_TEXT, b"plain"))
        frame = conn.recv_frame()
        assert frame.rsv == 4
        assert zlib.decompressobj(-15).decompress(frame.payload + b"\0\0\xff\xff") == b"plain"


def test_deflate_rsv1_on_continuation_1002(examples_server):
    with deflate_ws(examples_server.port) as conn:
        conn.send(build_frame(OP_TEXT, b"\xf2\x48\xcd\xc9", rsv=4, fin=False))
        conn.send(build_frame(OP_CONT, b"\xc9\x07\x00", rsv=4, fin=True))
        assert_fails_with(conn, CLOSE_1002)


def test_deflate_invalid_utf8_after_inflate_1007(examples_server):
    deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    data = deflater.compress(b"ok \xff") + deflater.flush(zlib.Z_SYNC_FLUSH)
    with deflate_ws(examples_server.port) as conn:
        conn.send(build_frame(OP_TEXT, data[:-4], rsv=4))
        assert_fails_with(conn, CLOSE_1007)


def test_deflate_corrupt_stream_closes(examples_server):
    with deflate_ws(examples_server.port) as conn:
        conn.send(build_frame(OP_BINARY, b"\xff\xff\xff\xff\xff", rsv=4))
        code, _ = conn.recv_close()
        assert code in (1002, 1007)
        conn.expect_eof()


# ------------------------------------------------------------------ --max-message-size


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory):
    from conftest import start_server

    server = start_server(
        EXAMPLES_DIR, "--max-message-size", "1024", log_dir=tmp_path_factory.mktemp("limit")
    )
    yield server
    server.stop()


def test_message_at_limit_is_echoed(small_limit_server):
    with open_ws(small_limit_server.port) as conn:
        echo(conn, OP_BINARY, b"a" * 1024)


def test_single_frame_over_limit_1009(small_limit_server):
    with open_ws(small_limit_server.port) as conn:
        conn.send_frame(OP_BINARY, b"a" * 1025)
        assert_fails_with(conn, CLOSE_1009)


def test_huge_announced_length_1009_without_waiting_for_payload(small_limit_server):
    with open_ws(small_limit_server.port) as conn:
        # Only the header: 1 TiB announced. The server must not wait for (or allocate) it.
        conn.send(struct.pack("!BBQ", 0x82, 0xFF, 1 << 40) + b"\x01\x02\x03\x04")
        conn.sock.settimeout(5)
        assert_fails_with(conn, CLOSE_1009)


def test_fragments_over_limit_1009(small_limit_server):
    with open_ws(small_limit_server.port) as conn:
        conn.send_frame(OP_TEXT, b"a" * 600, fin=False)
        conn.send_frame(OP_CONT, b"a" * 600, fin=False)
        assert_fails_with(conn, CLOSE_1009)


def test_deflated_message_over_limit_1009(small_limit_server):
    deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    data = deflater.compress(b"a" * 5000) + deflater.flush(zlib.Z_SYNC_FLUSH)
    assert len(data) < 100
    with deflate_ws(small_limit_server.port) as conn:
        conn.send(build_frame(OP_TEXT, data[:-4], rsv=4))
        assert_fails_with(conn, CLOSE_1009)
