"""WebSocketServer embedded in this process, the way browser test harnesses use it.

Real server on 127.0.0.1 with an OS-chosen port, real clients (websockets, raw sockets).
"""

import base64
import logging
import os
import re
import socket
import struct
import threading
import time
import types

import pytest
from conftest import stop_serving
from pywebsocket3 import standalone
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

HANDLERS = {
    "echo_wsh.py": """
def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        request.ws_stream.send_message(message, binary=isinstance(message, bytes))
        if message == 'Goodbye':
            return
""",
    "close_wsh.py": """
def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    request.ws_stream.receive_message()

def web_socket_passive_closing_handshake(request):
    return 3001, 'custom:' + (request.ws_close_reason or '')
""",
    "info_wsh.py": """
import json

def web_socket_do_extra_handshake(request):
    request.custom_attribute = 'set in extra handshake'

def web_socket_transfer_data(request):
    info = {
        'uri': request.uri,
        'unparsed_uri': request.unparsed_uri,
        'method': request.method,
        'protocol': request.protocol,
        'https': request.is_https(),
        'items': list(request.headers_in.items()),
        'host': request.headers_in.get('HOST'),
        'missing': request.headers_in['X-Missing'],
        'custom': request.custom_attribute,
        'remote': list(request.connection.remote_addr)[:2],
        'local': list(request.connection.local_addr),
        'resource': request.ws_resource,
    }
    request.ws_stream.send_message(json.dumps(info))
    request.ws_stream.receive_message()
""",
    "abort_handshake_wsh.py": """
from pywebsocket3 import handshake

def web_socket_do_extra_handshake(request):
    request.connection.write(b'raw bytes then nothing')
    raise handshake.AbortedByUserException('abort')

def web_socket_transfer_data(request):
    pass
""",
    "abort_transfer_wsh.py": """
from pywebsocket3 import handshake

def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    raise handshake.AbortedByUserException('abort')
""",
    "value_error_wsh.py": """
def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    raise ValueError('handler bug')
""",
    "internal_error_wsh.py": """
from mod_pywebsocket import msgutil

def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    raise msgutil.BadOperationException('Intentional')
""",
    "reject_wsh.py": """
from pywebsocket3 import handshake

def web_socket_do_extra_handshake(request):
    raise handshake.HandshakeException('teapot', 418)

def web_socket_transfer_data(request):
    pass
""",
    "slow_wsh.py": """
import threading

# The test releases it: a thread still running at interpreter exit would crash it.
RELEASE = threading.Event()

def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    request.ws_stream.send_message('started')
    RELEASE.wait(30)
""",
}

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.fixture
def handler_dir(tmp_path):
    root = tmp_path / "handlers"
    root.mkdir()
    for name, source in HANDLERS.items():
        (root / name).write_text(source)
    return root


class Running:
    def __init__(self, server):
        self.server = server
        self.port = server._sockets[0][0].getsockname()[1]
        self.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def stop(self):
        stop_serving(self.server, self.thread)


@pytest.fixture
def embed(handler_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    running = []

    def start(extra_argv=(), **attrs):
        options, _ = standalone._parse_args_and_config(
            ["-H", "127.0.0.1", "-p", "0", "-w", str(handler_dir), *extra_argv]
        )
        options.cgi_directories = []
        options.is_executable_method = None
        options.shutdown_timeout = 1.0
        for name, value in attrs.items():
            setattr(options, name, value)
        r = Running(standalone.WebSocketServer(options))
        running.append(r)
        return r

    yield start
    for r in running:
        r.stop()


def raw_handshake(port, path="/echo", extra="", version="13"):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        (
            "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: %s\r\n%s\r\n" % (path, port, KEY, version, extra)
        ).encode()
    )
    return sock


def read_all(sock):
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def masked(opcode, payload, fin=True):
    key = b"\x01\x02\x03\x04"
    header = bytes([(0x80 if fin else 0) | opcode])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def test_embed_like_a_test_harness(embed, caplog):
    caplog.set_level(logging.INFO)
    r = embed()
    assert r.server.server_port == r.port
    assert r.server.server_address == ("127.0.0.1", r.port)
    with connect("ws://127.0.0.1:%d/echo" % r.port) as ws:
        ws.send("hello")
        assert ws.recv() == "hello"
        ws.send(b"\x00\xff")
        assert ws.recv() == b"\x00\xff"
    assert '"GET /echo HTTP/1.1" 101 -' in caplog.text


def test_hand_built_options(handler_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Only what an old embedder (Chromium's testserver) sets: no handler_encoding, no logging.
    options = types.SimpleNamespace(
        server_host="127.0.0.1",
        port=0,
        document_root=str(tmp_path),
        websock_handlers=str(handler_dir),
        scan_dir=None,
        allow_handlers_outside_root_dir=False,
        websock_handlers_map_file=None,
        cgi_directories=[],
        is_executable_method=None,
        use_tls=False,
        use_basic_auth=False,
        validation_host=None,
        validation_port=None,
        request_queue_size=16,
    )
    r = Running(standalone.WebSocketServer(options))
    try:
        assert options.dispatcher.get_handler_suite("/echo") is not None
        with connect("ws://127.0.0.1:%d/echo" % r.port) as ws:
            ws.send("Goodbye")
            assert ws.recv() == "Goodbye"
            with pytest.raises(ConnectionClosed) as info:
                ws.recv()
            assert info.value.rcvd.code == 1000
    finally:
        r.stop()


def test_request_object(embed):
    import json

    r = embed()
    with connect("ws://127.0.0.1:%d/info?q=1" % r.port, additional_headers={"X-Dup": "a"}) as ws:
        info = json.loads(ws.recv())
    assert info["uri"] == info["unparsed_uri"] == info["resource"] == "/info?q=1"
    assert (info["method"], info["protocol"], info["https"]) == ("GET", "HTTP/1.1", False)
    assert info["host"] == "127.0.0.1:%d" % r.port and info["missing"] is None
    assert ["X-Dup", "a"] in info["items"] and info["items"][0][0] == "Host"
    assert info["custom"] == "set in extra handshake"
    assert info["remote"][0] in ("127.0.0.1", "::ffff:127.0.0.1")
    assert info["local"] == ["127.0.0.1", r.port]  # (-H value, port), as pywebsocket


def test_close_codes_for_handler_endings(embed, caplog):
    r = embed()
    with connect("ws://127.0.0.1:%d/internal_error" % r.port) as ws:
        with pytest.raises(ConnectionClosed) as info:
            ws.recv()
    assert info.value.rcvd.code == 1011 and info.value.rcvd.reason == ""
    with connect("ws://127.0.0.1:%d/close" % r.port) as ws:
        ws.close(3333, "why")
    assert ws.protocol.close_rcvd.code == 3001
    assert ws.protocol.close_rcvd.reason == "custom:why"
    # ValueError in transfer: traceback logged, TCP closed without a Close frame.
    sock = raw_handshake(r.port, "/value_error")
    head = read_head(sock)
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert ("Sec-WebSocket-Accept: %s\r\n" % ACCEPT).encode() in head
    assert read_all(sock) == b""
    deadline = time.time() + 5
    while "Exception in processing request from" not in caplog.text and time.time() < deadline:
        time.sleep(0.05)
    assert "web_socket_transfer_data raised exception for /value_error: handler bug" in (
        caplog.text
    )
    # AbortedByUserException in transfer: no Close frame either.
    sock = raw_handshake(r.port, "/abort_transfer")
    assert read_head(sock).startswith(b"HTTP/1.1 101")
    assert read_all(sock) == b""


def test_handshake_failures_on_the_wire(embed):
    r = embed()
    sock = raw_handshake(r.port, "/abort_handshake")
    assert read_all(sock) == b"raw bytes then nothing"
    sock = raw_handshake(r.port, "/reject")
    assert read_all(sock).startswith(b"HTTP/1.0 403 Forbidden\r\n")
    sock = raw_handshake(r.port, "/echo#frag")
    assert read_all(sock).startswith(b"HTTP/1.0 400 Bad Request\r\n")
    sock = raw_handshake(r.port, "/echo", version="99")
    response = read_all(sock).decode("latin-1")
    assert re.fullmatch(
        r"HTTP/1\.0 400 Bad Request\r\nServer: SimpleHTTP/0\.6 Python/[0-9.]+\r\n"
        r"Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n"
        r"Sec-WebSocket-Version: 13\r\n\r\n",
        response,
    ), response
    # An offered subprotocol that the handler does not pick: 400.
    sock = raw_handshake(r.port, "/echo", extra="Sec-WebSocket-Protocol: chat\r\n")
    assert read_all(sock).startswith(b"HTTP/1.0 400 Bad Request\r\n")


def test_protocol_errors_close(embed):
    r = embed()
    sock = raw_handshake(r.port, "/echo")
    assert read_head(sock).startswith(b"HTTP/1.1 101")
    sock.sendall(bytes([0x81, 0x02]) + b"hi")  # unmasked: 1002
    assert read_all(sock) == b"\x88\x02\x03\xea"
    sock = raw_handshake(r.port, "/echo")
    read_head(sock)
    sock.sendall(masked(0x1, b"\xc3"))  # invalid UTF-8: 1007
    data = sock.recv(4)
    assert data == b"\x88\x02\x03\xef"


def test_max_message_size(embed):
    r = embed(["--max-message-size", "1000"])
    sock = raw_handshake(r.port, "/echo")
    read_head(sock)
    sock.sendall(masked(0x2, b"x" * 1000))
    assert sock.recv(2) == b"\x82\x7e"
    sock.recv(1002)
    sock.sendall(masked(0x2, b"y" * 1001))
    data = b""
    while len(data) < 4:
        chunk = sock.recv(4 - len(data))
        if not chunk:
            break
        data += chunk
    assert data == b"\x88\x02\x03\xf1"  # 1009


def test_option_change_after_construction(embed):
    r = embed()
    with connect("ws://127.0.0.1:%d/echo" % r.port) as ws:
        ws.send("x")
        assert ws.recv() == "x"
    options = r.server.websocket_server_options
    options.use_basic_auth = True
    options.basic_auth_credential = "Basic " + base64.b64encode(b"u:p").decode()
    # No sleep: the assignment itself reaches the server (tests/test_live_options.py).
    # websockets refuses HTTP/1.0 responses, so read pywebsocket's 401 raw.
    sock = raw_handshake(r.port, "/echo")
    assert read_all(sock).startswith(b"HTTP/1.0 401 Unauthorized\r\n")
    with connect("ws://u:p@127.0.0.1:%d/echo" % r.port) as ws:
        ws.send("y")
        assert ws.recv() == "y"


def test_alias_map_reaches_router(handler_dir, embed, tmp_path):
    map_file = tmp_path / "map.txt"
    map_file.write_text("/ /echo\n/other /echo\n")
    r = embed(["-m", str(map_file)])
    for path in ("/", "/other"):
        with connect("ws://127.0.0.1:%d%s" % (r.port, path)) as ws:
            ws.send(path)
            assert ws.recv() == path
    r.server.websocket_server_options.dispatcher.add_resource_path_alias("/late", "/echo")
    with connect("ws://127.0.0.1:%d/late" % r.port) as ws:
        ws.send("late")
        assert ws.recv() == "late"


def test_shutdown_closes_clients_with_1001(embed):
    r = embed()
    with connect("ws://127.0.0.1:%d/echo" % r.port) as ws:
        ws.send("x")
        assert ws.recv() == "x"
        started = time.time()
        r.stop()
        assert time.time() - started < 5
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd.code == 1001
    assert r.server.active_connections() == 0


def test_shutdown_does_not_wait_for_stuck_handler(embed):
    r = embed()
    release = r.server.websocket_server_options.dispatcher.get_handler_suite("/slow")
    release = release.transfer_data.__globals__["RELEASE"]
    try:
        with connect("ws://127.0.0.1:%d/slow" % r.port) as ws:
            assert ws.recv() == "started"
            started = time.time()
            r.stop()
            assert time.time() - started < 4  # shutdown_timeout is 1 s here
            assert r.server.active_connections() == 1
    finally:
        release.set()
    deadline = time.time() + 5
    while r.server.active_connections() and time.time() < deadline:
        time.sleep(0.02)
    assert r.server.active_connections() == 0


def test_static_files_from_cwd(embed, tmp_path):
    (tmp_path / "hello.txt").write_text("static hello")
    r = embed()
    sock = socket.create_connection(("127.0.0.1", r.port), timeout=5)
    sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    response = read_all(sock)
    assert response.startswith(b"HTTP/1.0 200 OK\r\n")
    assert response.endswith(b"static hello")


def test_sockets_are_real(embed):
    r = embed()
    sockets = r.server._sockets
    assert sockets and all(s.getsockname()[1] == r.port for s, _ in sockets)
    assert r.server.fileno() == sockets[0][0].fileno()
    assert os.path.exists("/proc/self/fd/%d" % sockets[0][0].fileno())
