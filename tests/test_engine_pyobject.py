"""The native protocol engine over a Python connection object (a socketpair end).

The peer side is driven with hand-built bytes, so every assertion is on the wire format.
"""

import io
import os
import random
import socket
import struct
import threading
import time
import zlib

import pytest
from pywebsocket3 import _native
from pywebsocket3._stream_exceptions import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    InvalidUTF8Exception,
    MessageTooBigException,
    ProtocolViolationException,
    UnsupportedFrameException,
)


class SocketConnection:
    """The duck-typed connection embedders pass: read(n) and write(bytes)."""

    def __init__(self, sock):
        self.sock = sock
        self.remote_addr = ("127.0.0.1", 4242)

    def read(self, n):
        return self.sock.recv(n)

    def write(self, data):
        self.sock.sendall(data)


@pytest.fixture
def pair():
    server_sock, client_sock = socket.socketpair()
    server_sock.settimeout(10)
    client_sock.settimeout(10)
    yield SocketConnection(server_sock), client_sock
    server_sock.close()
    client_sock.close()


def masked(first_byte, payload, key=b"\x37\xfa\x21\x3d"):
    """A client frame with a fixed key, masked here in Python (independent of the engine)."""
    length = len(payload)
    if length < 126:
        header = bytes([first_byte, 0x80 | length])
    elif length < 65536:
        header = bytes([first_byte, 0x80 | 126]) + struct.pack("!H", length)
    else:
        header = bytes([first_byte, 0x80 | 127]) + struct.pack("!Q", length)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return header + key + body


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "peer closed early"
        data += chunk
    return data


def test_text_and_binary_both_ways(pair):
    conn, client = pair
    engine = _native.Engine(conn)
    client.sendall(masked(0x81, "héllo".encode()) + masked(0x82, b"\x00\x80\xfe\xff"))
    assert engine.receive() == (1, "héllo")
    assert engine.last_opcode == 1
    assert engine.receive() == (2, b"\x00\x80\xfe\xff")
    assert engine.last_opcode == 2
    engine.send_message(b"Hello")
    engine.send_message(b"\x00\x01", binary=True)
    engine.send_message(b"a" * 126, binary=True)
    expected = b"\x81\x05Hello\x82\x02\x00\x01\x82\x7e\x00\x7e" + b"a" * 126
    assert recv_exact(client, len(expected)) == expected


def test_fragments_with_a_ping_in_between(pair):
    conn, client = pair
    engine = _native.Engine(conn)
    client.sendall(
        masked(0x01, b"Hello")
        + masked(0x89, b"are you there")
        + masked(0x00, b" World")
        + masked(0x80, b"!")
    )
    assert engine.receive() == (9, b"are you there")
    assert engine.receive() == (1, "Hello World!")
    for part, end in ((b"Hello", False), (b" ", False), (b"World", False), (b"!", True)):
        engine.send_message(part, end=end)
    expected = b"\x01\x05Hello\x00\x01 \x00\x05World\x80\x01!"
    assert recv_exact(client, len(expected)) == expected
    engine.send_message(b"a", end=False, binary=True)
    with pytest.raises(BadOperationException):
        engine.send_message(b"b", end=True, binary=False)


def test_control_frames_and_close_validation(pair):
    conn, client = pair
    engine = _native.Engine(conn)
    engine.send_frame(0x9, b"ping!")
    engine.send_frame(0x8, struct.pack("!H", 1000))
    assert recv_exact(client, 11) == b"\x89\x05ping!\x88\x02\x03\xe8"
    with pytest.raises(BadOperationException):
        engine.send_frame(0xA, b"x" * 126)
    client.sendall(masked(0x88, b"\x0d\x05sun") + masked(0x8A, b"pong"))
    assert engine.receive() == (8, b"\x0d\x05sun")
    assert engine.receive() == (10, b"pong")
    client.sendall(masked(0x88, struct.pack("!H", 1005)))
    with pytest.raises(InvalidFrameException):
        engine.receive()


def test_permessage_deflate_exact_bytes(pair):
    conn, client = pair
    engine = _native.Engine(conn)
    engine.enable_deflate()
    hello = b"\xf2\x48\xcd\xc9\xc9\x07\x00"
    client.sendall(masked(0xC1, hello) + masked(0x41, hello[:3]) + masked(0x80, hello[3:]))
    assert engine.receive() == (1, "Hello")
    assert engine.receive() == (1, "Hello")
    engine.send_message(b"Hello")
    engine.send_message(b"Hello")
    engine.send_message(b"", binary=True)
    expected = b"\xc1\x07" + hello + b"\xc1\x05\xf2\x00\x11\x00\x00" + b"\xc2\x01\x00"
    assert recv_exact(client, len(expected)) == expected
    engine.set_outgoing_compression(False)
    engine.send_message(b"plain")
    assert recv_exact(client, 7) == b"\x81\x05plain"


def test_server_no_context_takeover_resets_compressor(pair):
    conn, client = pair
    engine = _native.Engine(conn)
    engine.enable_deflate(outgoing_no_context_takeover=True)
    engine.send_message(b"Hello")
    engine.send_message(b"Hello")
    frame = b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00"
    assert recv_exact(client, 18) == frame + frame


@pytest.mark.parametrize("window_bits", [8, 10, 15])
@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_deflate_matches_cpython_zlib(pair, window_bits, no_context_takeover):
    conn, client = pair
    engine = _native.Engine(conn)
    engine.enable_deflate(
        outgoing_window_bits=window_bits, outgoing_no_context_takeover=no_context_takeover
    )
    rng = random.Random(window_bits)
    words = [b"websocket", b"deflate", b"frame", b"zlib", b"\x00\xff"]
    messages = [b" ".join(rng.choice(words) for _ in range(n)) for n in (1, 50, 20000, 7)]
    messages.append(os.urandom(70000))
    reference = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -max(window_bits, 9))
    for message in messages:
        if no_context_takeover:
            reference = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -max(window_bits, 9)
            )
        expected = (reference.compress(message) + reference.flush(zlib.Z_SYNC_FLUSH))[:-4]
        sender = threading.Thread(target=engine.send_message, args=(message, True, True))
        sender.start()
        header = recv_exact(client, 2)
        assert header[0] == 0xC2
        length = header[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", recv_exact(client, 2))[0]
        elif length == 127:
            length = struct.unpack("!Q", recv_exact(client, 8))[0]
        assert recv_exact(client, length) == expected
        sender.join()


def test_protocol_errors_raise_upstream_exceptions(pair):
    conn, client = pair
    engine = _native.Engine(conn)
    client.sendall(b"\x81\x00")  # unmasked client frame
    with pytest.raises(InvalidFrameException):
        engine.receive()
    engine = _native.Engine(conn)
    client.sendall(masked(0x91, b"x"))  # RSV3
    with pytest.raises(ProtocolViolationException) as info:
        engine.receive()
    assert isinstance(info.value, UnsupportedFrameException)
    assert isinstance(info.value, InvalidFrameException)
    client.sendall(masked(0x83, b"junk") + masked(0x81, b"next"))  # unknown opcode 3
    with pytest.raises(UnsupportedFrameException):
        engine.receive()
    assert engine.receive() == (1, "next")
    client.sendall(masked(0xC1, b"x"))  # RSV1 without deflate
    with pytest.raises(ProtocolViolationException):
        engine.receive()
    client.sendall(masked(0x80, b"x"))  # continuation with nothing started
    with pytest.raises(InvalidFrameException):
        engine.receive()


def test_invalid_utf8_is_raised_before_the_message_ends(pair):
    conn, client = pair
    engine = _native.Engine(conn)
    client.sendall(masked(0x01, b"ok\xc3("))  # the rest of the message never comes
    with pytest.raises(InvalidUTF8Exception):
        engine.receive()


def test_message_too_big_without_sending_it(pair):
    conn, client = pair
    engine = _native.Engine(conn, max_message_size=1000)
    client.sendall(b"\x82\xff" + struct.pack("!Q", 1 << 40) + b"\x01\x02\x03\x04")
    with pytest.raises(MessageTooBigException):
        engine.receive()
    engine = _native.Engine(conn, max_message_size=1000)
    engine.enable_deflate()
    bomb = zlib.compressobj(6, zlib.DEFLATED, -15)
    payload = (bomb.compress(b"\x00" * 10_000_000) + bomb.flush(zlib.Z_SYNC_FLUSH))[:-4]
    threading.Thread(target=client.sendall, args=(masked(0xC2, payload),)).start()
    with pytest.raises(MessageTooBigException):
        engine.receive()


def test_eof_and_read_errors_are_connection_terminated(pair):
    conn, client = pair
    engine = _native.Engine(conn)
    client.close()
    with pytest.raises(ConnectionTerminatedException) as info:
        engine.receive()
    assert str(info.value) == (
        "Receiving 2 byte failed. Peer (('127.0.0.1', 4242)) closed connection"
    )

    class Failing:
        def read(self, n):
            raise OSError("boom")

        def write(self, data):
            raise BrokenPipeError("gone")

    failing = _native.Engine(Failing())
    with pytest.raises(ConnectionTerminatedException, match="IOError \\(boom\\)"):
        failing.receive()
    with pytest.raises(BrokenPipeError, match="gone"):
        failing.send_message(b"x")


def test_raw_read_write_keep_order(pair):
    conn, client = pair
    engine = _native.Engine(conn)
    client.sendall(b"RAW!" + masked(0x81, b"frame"))
    assert engine.read(4) == b"RAW!"
    assert engine.receive() == (1, "frame")
    engine.write(b"HTTP/1.1 101\r\n\r\n")
    engine.send_message(b"x")
    assert recv_exact(client, 19) == b"HTTP/1.1 101\r\n\r\n\x81\x01x"


def test_receive_frame_and_process_frame(pair):
    conn, client = pair
    engine = _native.Engine(conn)
    client.sendall(masked(0x02, b"ab") + masked(0x80, b"c"))
    first = engine.receive_frame()
    assert first == (2, b"ab", 0, 0, 0, 0)
    assert engine.process_frame(*first) is None
    last = engine.receive_frame()
    assert last == (0, b"c", 1, 0, 0, 0)
    assert engine.process_frame(*last) == (2, b"abc")


def test_client_mode_round_trip(pair):
    conn, client = pair
    server = _native.Engine(conn)
    peer = _native.Engine(SocketConnection(client), mask_send=True, unmask_receive=False)
    peer.send_message("κόσμε".encode(), end=False)
    peer.send_message(b"!", end=True)
    assert server.receive() == (1, "κόσμε!")
    server.send_message(b"\x01\x02", binary=True)
    assert peer.receive() == (2, b"\x01\x02")


def test_send_while_another_thread_receives(pair):
    conn, client = pair
    engine = _native.Engine(conn)
    received = []
    receiver = threading.Thread(target=lambda: received.append(engine.receive()))
    receiver.start()
    time.sleep(0.1)  # the receiver is now blocked in read
    assert engine.last_opcode is None  # must not wait for the blocked receive
    engine.send_message(b"while receiving")
    assert recv_exact(client, 17) == b"\x81\x0fwhile receiving"
    assert received == []
    client.sendall(masked(0x81, b"done"))
    receiver.join(5)
    assert received == [(1, "done")]


def test_frame_helpers():
    frame = _native.build_frame(1, b"Hello", mask=True)
    assert frame[:2] == b"\x81\x85"
    assert _native.mask(frame[2:6], frame[6:]) == b"Hello"
    assert _native.mask(b"abcd", b"\x00" * 6, 1) == b"bcdabc"
    assert _native.build_frame(9, b"", fin=1, rsv1=1) == b"\xc9\x00"
    with pytest.raises(ValueError):
        _native.build_frame(16, b"")
    stream = io.BytesIO(frame)
    assert _native.parse_frame(stream.read) == (1, b"Hello", 1, 0, 0, 0)
    stream = io.BytesIO(b"\x82\x7e\x00\x03abc")  # non-minimal length is accepted
    assert _native.parse_frame(stream.read, unmask_receive=False) == (2, b"abc", 1, 0, 0, 0)
    stream = io.BytesIO(b"\x82\x03abc")
    with pytest.raises(InvalidFrameException):
        _native.parse_frame(stream.read)
    stream = io.BytesIO(b"\x89\x7e\x00\x7e" + b"a" * 126)
    with pytest.raises(InvalidFrameException):
        _native.parse_frame(stream.read, unmask_receive=False)
