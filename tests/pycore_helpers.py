"""A request object of the kind embedders build: a socketpair behind read(n)/write(bytes)."""

import http.client
import io
import socket
import struct

from pywebsocket3 import common, stream
from pywebsocket3.extensions import PerMessageDeflateExtensionProcessor


class SocketConnection:
    """mod_python's mp_conn over one end of a socketpair."""

    def __init__(self, sock):
        self._sock = sock
        self.remote_addr = ("127.0.0.1", 12345)
        self.local_addr = ("127.0.0.1", 80)

    def read(self, length):
        chunks = []
        while length > 0:
            data = self._sock.recv(length)
            if not data:
                break
            chunks.append(data)
            length -= len(data)
        return b"".join(chunks)

    def write(self, data):
        self._sock.sendall(data)


class Request:
    def __init__(self, connection, headers, method="GET", uri="/echo", protocol="HTTP/1.1"):
        raw = "".join("%s: %s\r\n" % item for item in headers) + "\r\n"
        self.headers_in = http.client.parse_headers(io.BytesIO(raw.encode("latin-1")))
        self.connection = connection
        self.method = method
        self.uri = uri
        self.unparsed_uri = uri
        self.protocol = protocol

    def is_https(self):
        return False


class Dispatcher:
    """The two hooks HandshakerBase and Stream call, backed by plain functions."""

    def __init__(self, extra_handshake=None, passive_closing=None):
        self._extra_handshake = extra_handshake
        self._passive_closing = passive_closing

    def do_extra_handshake(self, request):
        if self._extra_handshake is not None:
            self._extra_handshake(request)

    def passive_closing_handshake(self, request):
        if self._passive_closing is not None:
            return self._passive_closing(request)
        return 1000, ""


def socket_pair():
    """(server_connection, client_socket) with a timeout so a broken test cannot hang."""
    server_sock, client_sock = socket.socketpair()
    server_sock.settimeout(10)
    client_sock.settimeout(10)
    return SocketConnection(server_sock), client_sock


def recv_exactly(sock, length):
    data = b""
    while len(data) < length:
        chunk = sock.recv(length - len(data))
        if not chunk:
            raise EOFError("peer closed after %r" % data)
        data += chunk
    return data


def recv_head(sock):
    data = b""
    while not data.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise EOFError("peer closed after %r" % data)
        data += chunk
    return data


KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def upgrade_headers(**extra):
    headers = [
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
        ("Origin", "http://example.com"),
    ]
    replaced = {name.replace("_", "-").lower(): value for name, value in extra.items()}
    result = []
    for name, value in headers:
        if name.lower() in replaced:
            value = replaced.pop(name.lower())
        if value is not None:
            result.append((name, value))
    for name, value in extra.items():
        if name.replace("_", "-").lower() in replaced and value is not None:
            result.append((name.replace("_", "-"), value))
    return result


_KEY = b"\x0f\x1e\x2d\x3c"


def client_frame(opcode, payload, fin=1, rsv1=0, rsv3=0, masked=True):
    """A frame as a browser sends it, built independently of the code under test."""
    first = (fin << 7) | (rsv1 << 6) | (rsv3 << 4) | opcode
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        header = bytes([first, mask_bit | n])
    elif n < 65536:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", n)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return header + payload
    return header + _KEY + bytes(b ^ _KEY[i % 4] for i, b in enumerate(payload))


def read_server_frame(sock):
    """(first byte, payload) of one unmasked frame."""
    first, second = recv_exactly(sock, 2)
    assert not second & 0x80, "server frames are never masked"
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", recv_exactly(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", recv_exactly(sock, 8))[0]
    return first, recv_exactly(sock, length)


def make_stream(options=None, dispatcher=None, deflate_offer=None):
    connection, client = socket_pair()
    request = Request(connection, [])
    # What the handshake sets before the stream exists.
    request.ws_version = common.VERSION_HYBI_LATEST
    request.ws_close_code = None
    request.ws_close_reason = None
    if dispatcher is not None:
        request._dispatcher = dispatcher
    options = options or stream.StreamOptions()
    request.ws_extension_processors = []
    if deflate_offer is not None:
        processor = PerMessageDeflateExtensionProcessor(common.parse_extensions(deflate_offer)[0])
        assert processor.get_extension_response() is not None
        processor.setup_stream_options(options)
        request.ws_extension_processors.append(processor)
    request.ws_stream = stream.Stream(request, options)
    return request, request.ws_stream, client


class ClientConnection:
    """echo_client's ClientConnection: read(n) may return fewer bytes (recv)."""

    def __init__(self, sock):
        self._sock = sock
        self.remote_addr = ("127.0.0.1", 1)

    def read(self, n):
        return self._sock.recv(n)

    def write(self, data):
        self._sock.sendall(data)
