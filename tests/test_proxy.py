"""Real client addresses behind a proxy: --trusted-proxy with X-Forwarded-For/Forwarded
through the real nginx, and --proxy-protocol (v1 through nginx's stream module, v2 from a
raw socket). Loopback addresses stand for hosts: nginx connects from 127.0.0.2 (the trusted
proxy), clients from 127.0.0.3 or 127.0.0.1 (untrusted)."""

from __future__ import annotations

import http.client
import re
import shutil
import socket
import ssl
import struct
import time
from pathlib import Path

import pytest
from conftest import (
    OP_CLOSE,
    OP_TEXT,
    RawConn,
    run_server_expecting_exit,
    self_signed_certificate,
)
from nginx_support import NginxPool
from websockets.sync.client import connect

pytestmark = pytest.mark.timeout(60)

DOCROOT = Path(__file__).resolve().parent / "fixtures" / "proxy"
PROXY = "127.0.0.2"
CLIENT = "127.0.0.3"
UNTRUSTED = "127.0.0.1"
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


@pytest.fixture
def nginx(tmp_path):
    with NginxPool(tmp_path) as pool:
        yield pool


def raw_from(source: str, port: int) -> RawConn:
    """A RawConn to the server whose local address is ``source``."""
    conn = RawConn.__new__(RawConn)
    conn.sock = socket.create_connection(
        ("127.0.0.1", port), timeout=10, source_address=(source, 0)
    )
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.buf = b""
    return conn


def remote_addr_over(conn: RawConn, extra=None) -> str:
    """Handshake on /remote_addr; the first message: repr of connection.remote_addr."""
    response = conn.handshake("/remote_addr", extra=extra)
    assert response.status == 101, response
    frame = conn.recv_frame()
    assert frame.opcode == OP_TEXT
    conn.send_frame(OP_CLOSE, struct.pack("!H", 1000))
    return frame.payload.decode()


def remote_addr_via(port: int, source: str, headers=None) -> str:
    """The websockets client from ``source`` to ``port`` (nginx or the server)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    with connect(
        f"ws://127.0.0.1:{port}/remote_addr",
        sock=sock,
        additional_headers=headers,
        compression=None,
        open_timeout=10,
    ) as ws:
        return ws.recv(timeout=10)


def proxy_v2(command: int, family: int, block: bytes) -> bytes:
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(block)) + block


def v2_inet(source: str, port: int) -> bytes:
    addresses = socket.inet_aton(source) + socket.inet_aton("10.0.0.1")
    return proxy_v2(1, 0x11, addresses + struct.pack("!HH", port, 443))


def v2_inet6(source: str, port: int) -> bytes:
    addresses = socket.inet_pton(socket.AF_INET6, source) + socket.inet_pton(socket.AF_INET6, "::1")
    tlv = b"\x04\x00\x05hello"  # a TLV, to be skipped
    return proxy_v2(1, 0x21, addresses + struct.pack("!HH", port, 443) + tlv)


def expect_closed(conn: RawConn, timeout: float = 5.0) -> None:
    """The server closes without a byte of response (EOF or reset)."""
    conn.sock.settimeout(timeout)
    try:
        assert conn.sock.recv(1024) == b""
    except ConnectionResetError:
        pass


# ------------------------------------------------------------- X-Forwarded-For / Forwarded


@pytest.fixture
def behind_nginx(server_factory, nginx):
    """The server trusting 127.0.0.2, nginx (connecting from there) in front of it."""
    server = server_factory(
        DOCROOT, "--trusted-proxy", PROXY, "--log-level", "info", "-x", "/cgi-bin"
    )
    return server, nginx.websocket_proxy([server.port], source_address=PROXY)


def test_remote_addr_through_nginx_is_the_client(behind_nginx):
    server, port = behind_nginx
    assert remote_addr_via(port, CLIENT) == repr((CLIENT, 0))
    # The access line names the client, not nginx.
    server.wait_for_log(f'{CLIENT} - "GET /remote_addr HTTP/1.1" 101 -')


def test_spoofed_headers_through_nginx_are_skipped(behind_nginx):
    _server, port = behind_nginx
    spoofed = {"X-Forwarded-For": "6.6.6.6, 127.0.0.2", "Forwarded": "for=7.7.7.7"}
    # nginx appends 127.0.0.3: the rightmost untrusted hop is the client; 127.0.0.2 in the
    # spoofed part is skipped as trusted only left of the real client.
    assert remote_addr_via(port, CLIENT, spoofed) == repr((CLIENT, 0))


def test_cgi_remote_addr_through_nginx(behind_nginx):
    _server, port = behind_nginx
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(CLIENT, 0)
    )
    connection.request("GET", "/cgi-bin/remote_addr.py", headers={"X-Forwarded-For": "6.6.6.6"})
    response = connection.getresponse()
    assert response.status == 200
    assert response.read() == CLIENT.encode()
    connection.close()


def test_headers_from_an_untrusted_peer_are_ignored(server_factory):
    server = server_factory(DOCROOT, "--trusted-proxy", PROXY, "--log-level", "info")
    spoofed = [("X-Forwarded-For", "6.6.6.6"), ("Forwarded", 'for="[2001:db8::6]:66"')]
    with raw_from(UNTRUSTED, server.port) as conn:
        own = conn.sock.getsockname()
        assert remote_addr_over(conn, spoofed) == repr((UNTRUSTED, own[1]))
    server.wait_for_log(f'{UNTRUSTED} - "GET /remote_addr HTTP/1.1" 101 -')
    assert "6.6.6.6" not in server.log()


def test_forwarded_from_a_trusted_peer(server_factory):
    server = server_factory(DOCROOT, "--trusted-proxy", "127.0.0.0/30")
    forwarded = [("Forwarded", 'for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"')]
    with raw_from(PROXY, server.port) as conn:
        assert remote_addr_over(conn, forwarded) == repr(("2001:db8:cafe::17", 4711, 0, 0))
    # Every hop trusted: the leftmost is the client.
    with raw_from(PROXY, server.port) as conn:
        chain = [("X-Forwarded-For", "127.0.0.1, 127.0.0.2")]
        assert remote_addr_over(conn, chain) == repr(("127.0.0.1", 0))


def test_without_trusted_proxy_the_access_line_is_upstreams(server_factory):
    server = server_factory(DOCROOT, "--log-level", "info")
    with raw_from(UNTRUSTED, server.port) as conn:
        own = conn.sock.getsockname()
        assert remote_addr_over(conn, [("X-Forwarded-For", "6.6.6.6")]) == repr(own)
    log = server.wait_for_log('"GET /remote_addr HTTP/1.1" 101 -')
    assert f'{UNTRUSTED} - "GET' not in log


# ------------------------------------------------------------------------ PROXY protocol


def proxied_server(server_factory, mode: str, *extra: str):
    return server_factory(
        DOCROOT,
        "--trusted-proxy",
        PROXY,
        "--proxy-protocol",
        mode,
        "--log-level",
        "info",
        *extra,
    )


def test_proxy_v1_through_nginx_stream(server_factory, nginx):
    server = proxied_server(server_factory, "v1")
    port = nginx.stream_proxy(server.port, source_address=PROXY)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(CLIENT, 0))
    client_port = sock.getsockname()[1]
    with connect(f"ws://127.0.0.1:{port}/remote_addr", sock=sock, compression=None) as ws:
        assert ws.recv(timeout=10) == repr((CLIENT, client_port))
        ws.send("still there")
        assert ws.recv(timeout=10) == "still there"
    server.wait_for_log(f'{CLIENT} - "GET /remote_addr HTTP/1.1" 101 -')


def test_proxy_v2_inet_inet6_and_local(server_factory):
    server = proxied_server(server_factory, "v2")
    with raw_from(PROXY, server.port) as conn:
        conn.send(v2_inet("203.0.113.7", 12345))
        assert remote_addr_over(conn) == repr(("203.0.113.7", 12345))
    with raw_from(PROXY, server.port) as conn:
        conn.send(v2_inet6("2001:db8::7", 4711))
        assert remote_addr_over(conn) == repr(("2001:db8::7", 4711, 0, 0))
    with raw_from(PROXY, server.port) as conn:
        conn.send(proxy_v2(0, 0x00, b""))
        assert remote_addr_over(conn) == repr(conn.sock.getsockname())


def test_proxy_header_then_forwarding_headers(server_factory):
    """After PROXY, X-Forwarded-For counts only if the PROXY source is trusted itself."""
    server = proxied_server(server_factory, "auto")
    with raw_from(PROXY, server.port) as conn:
        conn.send(b"PROXY TCP4 203.0.113.7 10.0.0.1 5000 80\r\n")
        assert remote_addr_over(conn, [("X-Forwarded-For", "6.6.6.6")]) == repr(
            ("203.0.113.7", 5000)
        )


def test_proxy_header_split_across_segments(server_factory):
    server = proxied_server(server_factory, "auto")
    headers = {
        b"PROXY TCP4 198.51.100.4 10.0.0.1 4444 80\r\n": ("198.51.100.4", 4444),
        v2_inet("198.51.100.5", 5555): ("198.51.100.5", 5555),
    }
    for header, client in headers.items():
        with raw_from(PROXY, server.port) as conn:
            for index in range(0, len(header), 5):
                conn.send(header[index : index + 5])
                time.sleep(0.02)
            assert remote_addr_over(conn) == repr(client)


def test_untrusted_peer_sending_a_header_is_closed(server_factory):
    server = proxied_server(server_factory, "auto")
    with raw_from(UNTRUSTED, server.port) as conn:
        conn.send(b"PROXY TCP4 6.6.6.6 10.0.0.1 6666 80\r\n")
        conn.send(b"GET /remote_addr HTTP/1.1\r\nHost: x\r\n\r\n")
        expect_closed(conn)
    server.wait_for_log("which is not a --trusted-proxy: closing")
    # Without a header, an untrusted peer is served as usual, under its own address.
    with raw_from(UNTRUSTED, server.port) as conn:
        assert remote_addr_over(conn) == repr(conn.sock.getsockname())


def test_untrusted_peer_starting_like_a_header_is_served(server_factory):
    """'P' may begin 'PROXY ' or 'POST': the server waits for more bytes, consuming none."""
    server = proxied_server(server_factory, "auto")
    with raw_from(UNTRUSTED, server.port) as conn:
        conn.send(b"P")
        time.sleep(0.1)
        conn.send(b"OST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        response = conn.read_response()
        assert response.status == 501, response


def test_trusted_peer_without_a_header_is_closed(server_factory):
    server = proxied_server(server_factory, "auto")
    with raw_from(PROXY, server.port) as conn:
        conn.send(b"GET /remote_addr HTTP/1.1\r\nHost: x\r\n\r\n")
        expect_closed(conn)
    server.wait_for_log("no PROXY protocol header: closing")


def test_wrong_version_and_garbage_are_closed(server_factory):
    server = proxied_server(server_factory, "v1")
    with raw_from(PROXY, server.port) as conn:
        conn.send(v2_inet("203.0.113.7", 1))
        expect_closed(conn)
    server.wait_for_log("PROXY V2 header sent, V1 expected: closing")
    with raw_from(PROXY, server.port) as conn:
        conn.send(b"PROXY " + b"9" * 200)
        expect_closed(conn)
    server.wait_for_log("no line end within 107 bytes")


def test_handshake_timeout_applies_to_the_header(server_factory):
    server = proxied_server(server_factory, "auto", "--handshake-timeout", "1")
    with raw_from(PROXY, server.port) as conn:
        started = time.monotonic()
        conn.send(b"PROXY TCP4 ")
        expect_closed(conn, timeout=5)
        assert 0.8 < time.monotonic() - started < 4
    server.wait_for_log("no complete PROXY protocol header within 1s: closing")


# ----------------------------------------------------------------------- start-up errors


def test_proxy_protocol_without_trusted_proxy_does_not_start():
    result = run_server_expecting_exit(DOCROOT, "--proxy-protocol", "v1")
    assert result.returncode == 1
    assert b"--proxy-protocol needs --trusted-proxy" in result.stderr


def test_bad_trusted_proxy_does_not_start():
    result = run_server_expecting_exit(DOCROOT, "--trusted-proxy", "10.0.0.0/33")
    assert result.returncode == 1
    assert b'--trusted-proxy "10.0.0.0/33": not an address or CIDR network' in result.stderr


def test_config_file_and_repeated_flags(tmp_path):
    from pywebsocket3 import standalone
    from pywebsocket3.websocket_server import _native_config

    config = tmp_path / "server.conf"
    config.write_text("[pywebsocket]\ntrusted_proxy = 10.0.0.0/8, ::1\nproxy_protocol = auto\n")
    options, _ = standalone._parse_args_and_config(
        ["--config", str(config), "--trusted-proxy", "192.0.2.1"]
    )
    assert options.trusted_proxy == ["10.0.0.0/8, ::1", "192.0.2.1"]
    assert options.proxy_protocol == "auto"
    native = _native_config(options)
    assert native["trusted_proxy"] == ["10.0.0.0/8, ::1", "192.0.2.1"]
    assert native["proxy_protocol"] == "auto"


def test_proxy_header_comes_before_tls(server_factory, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = self_signed_certificate(tmp_path)
    server = proxied_server(
        server_factory,
        "v2",
        "-t",
        "-k",
        str(key),
        "-c",
        str(cert),
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    sock = socket.create_connection(
        ("127.0.0.1", server.port), timeout=10, source_address=(PROXY, 0)
    )
    sock.sendall(v2_inet("203.0.113.8", 8443))
    url = f"wss://127.0.0.1:{server.port}/remote_addr"
    with connect(url, sock=sock, ssl=context, server_hostname="localhost", compression=None) as ws:
        assert ws.recv(timeout=10) == repr(("203.0.113.8", 8443))


def readme_nginx_config() -> str:
    """The nginx configuration of the README's Deploying section (the http {} part)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```nginx\n(.*?)```", readme, re.S)
    return next(block for block in blocks if "upstream pywebsocket" in block)


def test_readme_nginx_config_with_ping_interval(server_factory, nginx):
    """The README's configuration, ports changed, in front of a server that pings every
    second: the client address arrives, and a WebSocket idle for longer stays open."""
    server = server_factory(
        DOCROOT, "--trusted-proxy", "127.0.0.1", "--ping-interval", "1", "--ping-timeout", "1"
    )
    config = readme_nginx_config()
    assert "listen 80;" in config and "server 127.0.0.1:9998;" in config
    config = config.replace("server 127.0.0.1:9998;", f"server 127.0.0.1:{server.port};")
    port = nginx.start(
        lambda port: "http {\n" + config.replace("listen 80;", f"listen 127.0.0.1:{port};") + "}\n"
    ).port
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(CLIENT, 0))
    with connect(f"ws://127.0.0.1:{port}/remote_addr", sock=sock, compression=None) as ws:
        assert ws.recv(timeout=10) == repr((CLIENT, 0))
        # Longer than --ping-interval + --ping-timeout: pongs went through nginx.
        time.sleep(2.5)
        ws.send("after a quiet while")
        assert ws.recv(timeout=10) == "after a quiet while"
