"""A request object of the kind embedders build: a socketpair behind read(n)/write(bytes)."""

import http.client
import io
import socket


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
