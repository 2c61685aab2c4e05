"""handshake + Stream embedded in a tiny TCP server of the test's own, driven by `websockets`.

This is how embedders (wptserve's HTTP/2 path, echo_client) use the package: their own
connection object, our handshake classes, the native engine underneath.
"""

import http.client
import socket
import threading

import pytest
from pycore_helpers import Dispatcher, Request, SocketConnection
from pywebsocket3 import handshake
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect


class _BufferedConnection(SocketConnection):
    """Reads through the file that parsed the head, so no byte after it is lost."""

    def __init__(self, sock, rfile):
        super().__init__(sock)
        self._rfile = rfile

    def read(self, length):
        return self._rfile.read(length)


def _echo(request):
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        request.ws_stream.send_message(message, binary=isinstance(message, bytes))
        if message == "Goodbye":
            return


class _Server:
    def __init__(self, extra_handshake=None, transfer=_echo, passive_closing=None):
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self.url = "ws://127.0.0.1:%d/echo" % self._listener.getsockname()[1]
        self._dispatcher = Dispatcher(extra_handshake, passive_closing)
        self._transfer = transfer
        self.errors = []
        self.requests = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        rfile = sock.makefile("rb")
        try:
            method, uri, protocol = rfile.readline().decode("latin-1").split()
            request = Request(_BufferedConnection(sock, rfile), [], method, uri, protocol)
            request.headers_in = http.client.parse_headers(rfile)
            request._dispatcher = self._dispatcher
            self.requests.append(request)
            try:
                handshake.do_handshake(request, self._dispatcher)
            except handshake.HandshakeException as e:
                sock.sendall(b"HTTP/1.1 %d Bad\r\nContent-Length: 0\r\n\r\n" % e.status)
                return
            self._transfer(request)
            if not request.server_terminated:
                request.ws_stream.close_connection()
        except Exception as e:
            self.errors.append(e)
        finally:
            rfile.close()
            sock.close()

    def close(self):
        self._listener.close()


@pytest.fixture
def server():
    servers = []

    def start(**kwargs):
        servers.append(_Server(**kwargs))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_echo_with_real_client(server):
    srv = server()
    with connect(srv.url, compression=None) as ws:
        ws.send("Hello")
        assert ws.recv(timeout=10) == "Hello"
        ws.send(b"\x00\xff")
        assert ws.recv(timeout=10) == b"\x00\xff"
        ws.send(["frag", "mented"])
        assert ws.recv(timeout=10) == "fragmented"
        assert ws.ping(b"p").wait(10)
    assert srv.errors == []
    assert srv.requests[0].ws_close_code == 1000


def test_server_initiated_close(server):
    srv = server()
    with connect(srv.url) as ws:
        ws.send("Goodbye")
        assert ws.recv(timeout=10) == "Goodbye"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    assert info.value.rcvd.code == 1000 and info.value.rcvd.reason == ""
    assert srv.errors == []


def test_permessage_deflate_with_real_client(server):
    srv = server()
    with connect(srv.url) as ws:  # websockets offers permessage-deflate by default
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        for text in ["Hello", "Hello", "x" * 100000, ""]:
            ws.send(text)
            assert ws.recv(timeout=10) == text
    assert srv.errors == []


def test_passive_close_hook_and_subprotocol(server):
    def choose(request):
        request.ws_protocol = request.ws_requested_protocols[-1]

    srv = server(extra_handshake=choose, passive_closing=lambda request: (4001, "hook"))
    ws = connect(srv.url, subprotocols=["a", "b"])
    assert ws.subprotocol == "b"
    ws.close(1000, "bye")
    assert ws.protocol.close_rcvd.code == 4001
    assert ws.protocol.close_rcvd.reason == "hook"
    assert srv.requests[0].ws_close_reason == "bye"

    with pytest.raises(InvalidStatus) as info:
        connect(server().url, subprotocols=["a"])
    assert info.value.response.status_code == 400
