"""permessage-deflate through Stream: byte-exact output, inflate settings, client mode."""

import os
import zlib

from pycore_helpers import ClientConnection, Request, client_frame, make_stream, read_server_frame
from pywebsocket3 import stream
from pywebsocket3.extensions import _PerMessageDeflateFramer


def _zlib_messages(*messages, window_bits=15, reset=False):
    out = []
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -window_bits)
    for message in messages:
        data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        out.append(data[:-4])
        if reset:
            compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -window_bits)
    return out


def test_deflate_send_is_byte_exact():
    request, ws, client = make_stream(deflate_offer="permessage-deflate")
    assert [type(f).__name__ for f in ws._options.outgoing_message_filters] == ["_MarkerFilter"]
    ws.send_message("Hello")
    ws.send_message("Hello")
    assert read_server_frame(client) == (0xC1, bytes.fromhex("f248cdc9c90700"))
    assert read_server_frame(client) == (0xC1, bytes.fromhex("f200110000"))
    ws.send_message("")
    assert read_server_frame(client) == (0xC1, b"\x00")
    # RSV1 only on the first frame of a fragmented message.
    ws.send_message("Hel", end=False)
    ws.send_message("lo", end=True)
    first, second = read_server_frame(client), read_server_frame(client)
    assert first[0] == 0x41 and second[0] == 0x80
    request.ws_extension_processors[0].disable_outgoing_compression()
    ws.send_message("plain")
    assert read_server_frame(client) == (0x81, b"plain")
    request.ws_extension_processors[0].enable_outgoing_compression()
    ws.send_message(b"\x00\x00", binary=True)
    assert read_server_frame(client)[0] == 0xC2


def test_deflate_no_context_takeover_and_window():
    request, ws, client = make_stream(
        deflate_offer="permessage-deflate; server_no_context_takeover"
    )
    ws.send_message("Hello")
    ws.send_message("Hello")
    assert read_server_frame(client) == (0xC1, bytes.fromhex("f248cdc9c90700"))
    assert read_server_frame(client) == (0xC1, bytes.fromhex("f248cdc9c90700"))

    request, ws, client = make_stream(deflate_offer="permessage-deflate; server_max_window_bits=9")
    text = os.urandom(300).hex()
    ws.send_message(text + text)
    assert read_server_frame(client) == (
        0xC1,
        _zlib_messages((text + text).encode(), window_bits=9)[0],
    )


def test_deflate_bfinal():
    request, ws, client = make_stream(deflate_offer="permessage-deflate")
    request.ws_extension_processors[0].set_bfinal(True)
    ws.send_message("Hello")
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    expected = compressor.compress(b"Hello") + compressor.flush(zlib.Z_FINISH) + b"\x00"
    assert read_server_frame(client) == (0xC1, expected)


def test_deflate_receive():
    request, ws, client = make_stream(deflate_offer="permessage-deflate")
    hello1, hello2 = _zlib_messages(b"Hello", b"Hello")
    client.sendall(
        client_frame(1, hello1, rsv1=1)
        + client_frame(1, hello2[:2], fin=0, rsv1=1)
        + client_frame(0, hello2[2:])
        + client_frame(2, b"not compressed")
    )
    assert ws.receive_message() == "Hello"
    assert ws.receive_message() == "Hello"
    assert ws.receive_message() == b"not compressed"

    # client_no_context_takeover offered: every message is its own stream.
    request, ws, client = make_stream(
        deflate_offer="permessage-deflate; client_no_context_takeover"
    )
    a, b = _zlib_messages(b"abcabc", b"abcabc", reset=True)
    client.sendall(client_frame(1, a, rsv1=1) + client_frame(1, b, rsv1=1))
    assert ws.receive_message() == "abcabc"
    assert ws.receive_message() == "abcabc"


def test_client_mode_deflate_framer():
    server_request, server, sock = make_stream(deflate_offer="permessage-deflate")
    framer = _PerMessageDeflateFramer(None, False)
    framer.set_compress_outgoing_enabled(True)
    options = stream.StreamOptions()
    options.mask_send = True
    options.unmask_receive = False
    framer.setup_stream_options(options)
    client = stream.Stream(Request(ClientConnection(sock), []), options)
    client.send_message("Hello")
    assert server.receive_message() == "Hello"
    server.send_message("World")
    assert client.receive_message() == "World"
