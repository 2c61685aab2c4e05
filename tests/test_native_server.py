"""The native Server on its own: a tiny Python on_websocket, raw socket clients, exact bytes."""

import logging
import os
import socket
import subprocess
import sys
import threading
import time

import native_support
import pytest
from native_support import (
    DATE,
    GOING_AWAY,
    KEY,
    SERVER,
    Echo,
    _config,
    _masked,
    _read_all,
    _read_until,
    _request,
    _stdlib_send_error,
    _upgrade,
    _without_date,
)
from pywebsocket3 import _native

make_server = native_support.make_server  # the fixture, shared with the other module


def test_port_zero_and_listener_fds(make_server):
    server, _, port = make_server()
    assert port != 0
    fds = server.listener_fds()
    assert len(fds) == 1
    with socket.socket(fileno=os.dup(fds[0])) as sock:
        assert sock.getsockname() == ("127.0.0.1", port)
        assert sock.type == socket.SOCK_STREAM


def test_echo_and_request_head(make_server):
    server, handler, port = make_server()
    sock = _upgrade(port, "/echo?x=1", extra=b"X-Dup: a\r\nx-dup: b\r\n")
    response = _read_until(sock, b"\r\n\r\n")
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )
    sock.sendall(_masked(1, b"hello"))
    assert sock.recv(100) == b"\x81\x05hello"
    assert server.active_connections() == 1
    head = handler.heads[0]
    assert (head.method, head.path, head.protocol) == ("GET", "/echo?x=1", "HTTP/1.1")
    assert head.headers[-2:] == [("X-Dup", "a"), ("x-dup", "b")]
    assert head.raw_lines[0] == b"GET /echo?x=1 HTTP/1.1\r\n"
    connection = handler.connections[0]
    assert connection.get_memorized_lines() == head.raw_lines
    assert connection.remote_addr == sock.getsockname()
    assert connection.local_addr == ("", port)
    assert connection.peer_certificate() is None
    with pytest.raises(TypeError):
        connection.write("str is not bytes")
    sock.sendall(_masked(8, b""))
    assert sock.recv(100) == b"\x88\x00"
    assert _read_all(sock) == b""
    assert handler.finished.wait(5)
    for _ in range(100):
        if server.active_connections() == 0:
            break
        time.sleep(0.02)
    assert server.active_connections() == 0


def test_frames_sent_with_the_head_are_not_lost(make_server):
    _, _, port = make_server()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        b"GET /echo HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: "
        + KEY.encode()
        + b"\r\n\r\n"
        + _masked(2, b"early")
    )
    data = _read_until(sock, b"early")
    assert data.endswith(b"\r\n\r\n\x82\x05early")
    sock.close()


def test_basic_auth_401_exact_bytes(make_server):
    _, handler, port = make_server(basic_auth="Basic dGVzdDp0ZXN0")
    for path in (b"/echo", b"/nothere", b"/"):
        response = _request(port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _without_date(response) == (
            b"HTTP/1.0 401 Unauthorized\r\n"
            + SERVER
            + b'WWW-Authenticate: Basic realm="Pywebsocket"\r\n\r\n'
        )
        assert DATE.search(response)
    wrong = _request(port, b"GET /echo HTTP/1.1\r\nAuthorization: Basic eDp5\r\n\r\n")
    assert wrong.startswith(b"HTTP/1.0 401 ")
    sock = _upgrade(port, extra=b"Authorization: Basic dGVzdDp0ZXN0\r\n")
    assert _read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    sock.close()
    assert len(handler.heads) == 1


def test_unknown_paths_fall_back_to_static_files(make_server, tmp_path):
    (tmp_path / "hello.txt").write_bytes(b"static body")
    _, handler, port = make_server()
    missing = _request(port, b"GET /nothere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
    assert missing.startswith(b"HTTP/1.0 404 File not found\r\n")
    found = _request(port, b"GET /hello.txt?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert found.startswith(b"HTTP/1.0 200 OK\r\n") and found.endswith(b"\r\n\r\nstatic body")
    assert handler.heads == []


def test_absolute_targets_and_validation(make_server):
    _, handler, port = make_server(validation_host="example.com", validation_port=80)
    sock = _upgrade(port, "ws://Example.com/echo")
    assert _read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    sock.close()
    assert handler.heads[0].path == "/echo"
    for target in (b"ws://other.com/echo", b"ws://example.com:81/echo", b"ws:///echo"):
        response = _request(port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response.startswith(b"HTTP/1.0 404 "), target
    assert len(handler.heads) == 1


def test_fragment_on_a_handler_is_400(make_server):
    _, handler, port = make_server()
    response = _request(port, b"GET /echo#frag HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _without_date(response) == _without_date(_stdlib_send_error(400))
    assert handler.heads == []


def test_error_pages_match_http_server():
    for status, message in ((400, None), (404, "File not found"), (503, None), (431, "x<y")):
        expected = _without_date(_stdlib_send_error(status, message))
        assert _without_date(_native.http_error_response(status, message)) == expected


def test_bad_heads_get_http_server_statuses(make_server):
    _, _, port = make_server(max_header_bytes=4096)
    bad_version = _request(port, b"GET / HTTP/1.x\r\n\r\n")
    assert bad_version.startswith(b"HTTP/1.0 400 Bad request version ('HTTP/1.x')\r\n")
    assert _request(port, b"GET / HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.0 505 ")
    too_big = b"GET / HTTP/1.1\r\nX: " + b"a" * 10000 + b"\r\n\r\n"
    assert _request(port, too_big).startswith(b"HTTP/1.0 431 ")
    many = b"GET / HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(101)) + b"\r\n"
    assert _request(port, many).startswith(b"HTTP/1.0 431 Too many headers\r\n")


def test_slow_heads_are_dropped_while_others_are_served(make_server):
    _, _, port = make_server(handshake_timeout=0.5)
    slow = socket.create_connection(("127.0.0.1", port), timeout=5)
    slow.sendall(b"GET /echo HTTP/1.1\r\n")
    sock = _upgrade(port)
    assert _read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    sock.close()
    started = time.monotonic()
    assert _read_all(slow) == b""
    assert time.monotonic() - started < 3


def test_max_connections_gives_503(make_server):
    server, _, port = make_server(max_connections=1)
    first = _upgrade(port)
    assert _read_until(first, b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    refused = _request(port, b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    assert refused.startswith(b"HTTP/1.0 503 Service Unavailable\r\n")
    first.close()
    for _ in range(100):
        if server.active_connections() == 0:
            break
        time.sleep(0.02)
    second = _upgrade(port)
    assert _read_until(second, b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    second.close()


def test_handler_exception_is_logged_and_server_survives(make_server, caplog):
    _native.init_logging(logging.INFO)
    _, _, port = make_server()
    with caplog.at_level(logging.INFO):
        sock = _upgrade(port, "/boom")
        assert _read_all(sock) == b""
        sock = _upgrade(port)
        assert _read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
        sock.close()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any(r.exc_info and "on purpose" in str(r.exc_info[1]) for r in errors)


def test_access_log_goes_to_python_logging(make_server, caplog):
    _native.init_logging(logging.INFO)
    _, _, port = make_server()
    with caplog.at_level(logging.INFO):
        _request(port, b"GET /nothere HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if any('"GET /nothere HTTP/1.1" 404 -' in r.getMessage() for r in caplog.records):
                break
            time.sleep(0.05)
    record = next(r for r in caplog.records if '"GET /nothere HTTP/1.1" 404 -' in r.getMessage())
    assert record.name == "pywebsocket3.request_handler.WebSocketRequestHandler"
    assert record.levelno == logging.INFO


# /pieces writes its 101 five bytes at a time: the head is recognised all the same.
@pytest.mark.parametrize("path", ["/echo", "/pieces"])
def test_shutdown_sends_going_away_and_waits(make_server, path):
    server, handler, port = make_server()
    sock = _upgrade(port, path)
    assert _read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    closer = threading.Thread(target=server.shutdown, args=(5.0,))
    closer.start()
    assert sock.recv(4) == GOING_AWAY
    sock.sendall(_masked(8, b"\x03\xe9"))
    assert sock.recv(100) == b"\x88\x00"
    closer.join(5)
    assert not closer.is_alive()
    assert handler.finished.is_set()
    assert server.wait(0.1) is True
    # Nothing serves the port any more: refused, or (a dup of the socket still open) no answer.
    try:
        late = socket.create_connection(("127.0.0.1", port), timeout=0.5)
    except ConnectionRefusedError:
        return
    with late:
        late.sendall(b"GET /nothere HTTP/1.1\r\n\r\n")
        # No answer: silence, or the queued connection ended when the last copy closed.
        try:
            assert late.recv(10) == b""
        except (socket.timeout, ConnectionResetError):
            pass


def test_shutdown_cuts_handlers_that_do_not_return(make_server):
    server, handler, port = make_server()
    sock = _upgrade(port)
    assert _read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    started = time.monotonic()
    server.shutdown(0.3)
    assert time.monotonic() - started < 2
    assert sock.recv(4) == GOING_AWAY
    assert handler.finished.wait(2)
    assert server.wait(0) is True


def test_ping_then_close_1011_for_a_silent_peer(make_server):
    _, handler, port = make_server(ping_interval=0.2, ping_timeout=0.3)
    sock = _upgrade(port)
    assert _read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    data = _read_all(sock)
    assert data.startswith(b"\x89\x00")
    assert data.endswith(b"\x88\x02\x03\xf3")
    assert handler.finished.wait(2)


def test_no_sockets_activated_is_critical(tmp_path, caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.INFO):
            config = _config(tmp_path, addresses=[(socket.AF_INET, "127.0.0.1", port)])
            server = _native.Server(config, Echo())
        assert server.listener_fds() == []
        server.close()
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert (logging.CRITICAL, "No sockets activated. Use info log level to see the reason.") in (
        messages
    )
    assert any(level == logging.INFO and m.startswith("Skip by failure") for level, m in messages)


def test_dual_stack_like_upstream(make_server):
    """IPv6 first, then IPv4 on the same port: the IPv4 socket is dropped, as upstream."""
    addresses = [(socket.AF_INET6, "::ffff:127.0.0.1", 0), (socket.AF_INET, "127.0.0.1", 0)]
    server, handler, port = make_server(addresses=addresses)
    assert len(server.listener_fds()) == 1
    sock = _upgrade(port)
    assert _read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    remote = handler.connections[0].remote_addr
    assert remote == ("::ffff:127.0.0.1", sock.getsockname()[1], 0, 0)
    sock.close()


EXIT_SCRIPT = r"""
import os, socket, sys, time
from pywebsocket3 import _native

def on_websocket(connection, head):
    connection.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    if head.path == "/quick":
        return  # its thread then waits, idle, for the next connection
    if head.path == "/read":
        connection.read(10)  # blocked in native code at exit
    while True:
        time.sleep(0.05)  # stuck in Python at exit

config = {"addresses": [(socket.AF_INET, "127.0.0.1", 0)], "document_root": sys.argv[1]}
server = _native.Server(config, on_websocket)
server.set_handler_resources(["/read", "/sleep", "/quick"])
server.start()
port = socket.socket(fileno=os.dup(server.listener_fds()[0])).getsockname()[1]
clients = []
for path in (b"/read", b"/sleep"):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(100).startswith(b"HTTP/1.1 101 ")
    clients.append(sock)
quick = socket.create_connection(("127.0.0.1", port))
quick.sendall(b"GET /quick HTTP/1.1\r\nHost: x\r\n\r\n")
assert quick.recv(100).startswith(b"HTTP/1.1 101 ")
while server.active_connections() > 2:
    time.sleep(0.01)
time.sleep(0.2)
print("ready", server.active_connections(), flush=True)
"""


def test_interpreter_exit_with_handlers_still_running(tmp_path):
    """Handlers blocked in a native read or stuck in Python, and a handler thread idle in
    the pool, must not crash the exit."""
    script = tmp_path / "exit_script.py"
    script.write_text(EXIT_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert done.stdout.strip() == "ready 2", done.stderr
    assert done.returncode == 0, done.stderr
    assert "Fatal Python error" not in done.stderr
