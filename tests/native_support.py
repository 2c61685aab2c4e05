"""Helpers of the native Server tests: a tiny Python on_websocket, config, raw clients."""

import http.server
import io
import os
import re
import socket
import threading

import pytest
from pywebsocket3 import _native

GOING_AWAY = b"\x88\x02\x03\xe9"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
DATE = re.compile(rb"Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n")
SERVER = ("Server: SimpleHTTP/0.6 Python/%s\r\n" % __import__("platform").python_version()).encode()


def _unmask(key, data):
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def _read_exact(connection, length):
    """``length`` bytes, fewer only at EOF: ``connection.read`` returns one receive's worth."""
    data = b""
    while len(data) < length:
        chunk = connection.read(length - len(data))
        if not chunk:
            break
        data += chunk
    return data


class Echo:
    """on_websocket: a hand-made 101, then echo small frames until a close or EOF."""

    def __init__(self):
        self.heads = []
        self.connections = []
        self.finished = threading.Event()

    def __call__(self, connection, head):
        self.heads.append(head)
        self.connections.append(connection)
        try:
            if head.path.startswith("/boom"):
                raise RuntimeError("handler failed on purpose")
            key = dict((k.lower(), v) for k, v in head.headers)["sec-websocket-key"]
            response = (
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + _native.compute_accept(key.encode())
                + b"\r\n\r\n"
            )
            if head.path.startswith("/pieces"):
                for start in range(0, len(response), 5):
                    connection.write(response[start : start + 5])
            else:
                connection.write(response)
            if head.path.startswith("/duplex"):
                # A second thread sends while this one is blocked receiving.
                def send_many():
                    for i in range(200):
                        connection.write(b"\x81\x03%03d" % i)

                sender = threading.Thread(target=send_many)
                sender.start()
                sender.join(10)
            while True:
                header = _read_exact(connection, 2)
                if len(header) < 2:
                    return
                opcode, length = header[0] & 0x0F, header[1] & 0x7F
                mask = _read_exact(connection, 4)
                payload = _unmask(mask, _read_exact(connection, length))
                if opcode == 8:
                    connection.write(b"\x88\x00")
                    return
                connection.write(bytes([0x80 | opcode, len(payload)]) + payload)
        finally:
            self.finished.set()


def _config(tmp_path, **overrides):
    config = {
        "addresses": [(socket.AF_INET, "127.0.0.1", 0)],
        "backlog": 16,
        "document_root": str(tmp_path),
        "cgi_paths": [],
        "tls": None,
        "python_version": __import__("platform").python_version(),
        "basic_auth": None,
        "validation_host": None,
        "validation_port": None,
        "handshake_timeout": 10.0,
        "max_header_bytes": 65536,
        "max_connections": 0,
        "ping_interval": None,
        "ping_timeout": None,
    }
    config.update(overrides)
    return config


@pytest.fixture
def make_server(tmp_path):
    servers = []

    def make(**overrides):
        handler = Echo()
        server = _native.Server(_config(tmp_path, **overrides), handler)
        server.set_handler_resources(["/echo", "/boom", "/duplex", "/pieces"])
        server.start()
        fd = server.listener_fds()[0]
        with socket.socket(fileno=os.dup(fd)) as sock:
            port = sock.getsockname()[1]
        servers.append(server)
        return server, handler, port

    yield make
    for server in servers:
        server.shutdown(1.0)
        server.close()


def _upgrade(port, path="/echo", extra=b""):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY.encode() + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\n" + extra + b"\r\n"
    )
    return sock


def _read_until(sock, marker):
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _read_all(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def _request(port, raw):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        return _read_all(sock)


def _masked(opcode, payload, key=b"\x01\x02\x03\x04"):
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + _unmask(key, payload)


def _stdlib_send_error(status, message=None):
    """What http.server's send_error writes, from a real handler instance."""
    handler = http.server.SimpleHTTPRequestHandler.__new__(http.server.SimpleHTTPRequestHandler)
    handler.wfile = io.BytesIO()
    handler.request_version = "HTTP/1.1"
    handler.requestline = "GET / HTTP/1.1"
    handler.command = "GET"
    handler.client_address = ("127.0.0.1", 0)
    handler.log_message = lambda *args: None
    handler.send_error(status, message)
    return handler.wfile.getvalue()


def _without_date(data):
    return DATE.sub(b"", data)
