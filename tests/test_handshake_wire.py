"""The opening handshake on the wire (§4): validation order and statuses, the exact 101,
error responses, routing fallbacks (static files, directory listing, 404), absolute request
targets with -V/-P, and basic auth."""

from __future__ import annotations

import base64
import http

import pytest
from conftest import (
    EXAMPLES_DIR,
    FIXTURE_HANDLERS,
    OP_TEXT,
    SAMPLE_ACCEPT,
    SAMPLE_KEY,
    TESTS_DIR,
    RawConn,
    build_frame,
    open_ws,
    upgrade_request,
)

EXACT_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + SAMPLE_ACCEPT.encode() + b"\r\n"
    b"\r\n"
)


def exchange(port: int, request: bytes) -> object:
    with RawConn(port) as conn:
        conn.send(request)
        return conn.read_response()


def assert_html_error(response, status_line: str) -> None:
    """http.server's send_error format (§4.4)."""
    assert response.status_line == status_line
    assert response.header("Content-Type") == "text/html;charset=utf-8"
    assert response.header("Connection") == "close"
    assert response.header("Server") is not None
    assert response.header("Date") is not None
    assert int(response.header("Content-Length")) == len(response.body)
    assert str(response.status).encode() in response.body


def test_exact_101(fixtures_server):
    with RawConn(fixtures_server.port) as conn:
        conn.send(upgrade_request("/echo", key=SAMPLE_KEY))
        response = conn.read_response()
        assert response.head == EXACT_101
        conn.send_frame(OP_TEXT, b"x")
        assert conn.recv_frame().payload == b"x"


def test_101_with_deflate_and_protocol_headers_in_order(examples_server):
    extra = [
        ("Sec-WebSocket-Protocol", "p1, p2"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=10"),
    ]
    with RawConn(examples_server.port) as conn:
        conn.send(upgrade_request("/subprotocol", key=SAMPLE_KEY, extra=extra))
        assert conn.read_response().head == (
            EXACT_101[:-2] + b"Sec-WebSocket-Protocol: p1\r\n"
            b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n\r\n"
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "POST"},
        {"http_version": "HTTP/1.0"},
        {"upgrade": None},
        {"upgrade": "websocket, foo"},
        {"upgrade": "h2c"},
        {"connection": None},
        {"connection": "keep-alive"},
        {"connection": "Upgrade;x"},
        {"host": None},
        {"version": None},
        {"version": "13, 8"},
        {"key": None},
        {"key": "AAAA"},
        {"key": "dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ=="},
        {"key": "dGhlIHNhbXBsZSBub25jZR=="},  # last char before == must be one of AQgw
        {"key": "dGhlIHNhbXBsZSBub25j"},
        {"extra": [("Sec-WebSocket-Protocol", "")]},
        {"extra": [("Sec-WebSocket-Protocol", "a b")]},
        {"extra": [("Sec-WebSocket-Extensions", "permessage-deflate; =x")]},
        {"extra": [("Sec-WebSocket-Protocol", "chat")]},  # offered, handler chooses none
    ],
    ids=lambda kwargs: repr(kwargs),
)
def test_bad_handshake_400(fixtures_server, kwargs):
    response = exchange(fixtures_server.port, upgrade_request("/echo", **kwargs))
    assert response.status == 400, response
    assert response.version == "HTTP/1.0"


def test_bad_handshake_400_body_format(fixtures_server):
    response = exchange(fixtures_server.port, upgrade_request("/echo", key=None))
    assert_html_error(response, "HTTP/1.0 400 Bad Request")


@pytest.mark.parametrize("version", ["8", "99", "12"])
def test_unsupported_version_400_with_version_header(fixtures_server, version):
    response = exchange(fixtures_server.port, upgrade_request("/echo", version=version))
    assert response.status_line == "HTTP/1.0 400 Bad Request"
    assert response.header_all("Sec-WebSocket-Version") == ["13"]
    assert response.header("Content-Type") is None
    assert response.body == b""


@pytest.mark.parametrize(
    "kwargs",
    [
        {"upgrade": "WebSocket"},
        {"connection": "keep-alive, Upgrade"},
        {"connection": "Upgrade, keep-alive, , "},
        {"connection": "upgrade"},
        {"extra": [("Sec-WebSocket-Extensions", "x-unknown-extension")]},
        {"extra": [("Sec-WebSocket-Extensions", "")]},
        {"host": "anything.example:1234"},
    ],
    ids=lambda kwargs: repr(kwargs),
)
def test_accepted_variants_101(fixtures_server, kwargs):
    with open_ws(fixtures_server.port, "/echo", **kwargs) as conn:
        assert conn.response.header("Sec-WebSocket-Extensions") is None


def test_query_is_ignored_for_lookup(fixtures_server):
    with open_ws(fixtures_server.port, "/sub/plain?a=b") as conn:
        assert conn.recv_frame().payload == b"plain:/sub/plain?a=b"


def test_fragment_on_handler_400(fixtures_server):
    response = exchange(fixtures_server.port, upgrade_request("/echo#frag"))
    assert_html_error(response, "HTTP/1.0 400 Bad Request")


def test_fragment_on_unknown_resource_404(fixtures_server):
    response = exchange(fixtures_server.port, upgrade_request("/nothere#frag"))
    assert response.status == 404


def test_unknown_resource_404_even_with_upgrade(fixtures_server):
    response = exchange(fixtures_server.port, upgrade_request("/nothere"))
    assert_html_error(response, "HTTP/1.0 404 File not found")


def test_trailing_slash_is_a_different_resource(fixtures_server):
    assert exchange(fixtures_server.port, upgrade_request("/echo/")).status == 404


def test_plain_get_of_handler_path_400(fixtures_server):
    response = exchange(fixtures_server.port, b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 400


def test_one_request_per_connection(fixtures_server):
    two = b"GET /static/dir/inner.txt HTTP/1.1\r\nHost: x\r\n\r\n" * 2
    response = exchange(fixtures_server.port, two)
    assert response.status == 200
    assert response.body == b"inner\n"  # the second request is never answered


# ------------------------------------------------------------------------ static files


def test_index_html_served_for_root_even_with_upgrade(fixtures_server):
    response = exchange(fixtures_server.port, upgrade_request("/"))
    assert response.status_line == "HTTP/1.0 200 OK"
    assert response.header("Content-Type") == "text/html"
    assert response.body == (FIXTURE_HANDLERS / "index.html").read_bytes()


def test_static_file_bytes(fixtures_server):
    response = exchange(fixtures_server.port, b"GET /static/data.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    expected = (FIXTURE_HANDLERS / "static" / "data.bin").read_bytes()
    assert response.status == 200
    assert response.body == expected
    assert int(response.header("Content-Length")) == len(expected)
    assert response.header("Last-Modified") is not None


def test_static_head_has_no_body(fixtures_server):
    response = exchange(fixtures_server.port, b"HEAD /static/data.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 200
    assert response.body == b""
    assert int(response.header("Content-Length")) > 0


def test_directory_listing(fixtures_server):
    response = exchange(fixtures_server.port, b"GET /static/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 200
    assert response.header("Content-Type").startswith("text/html")
    assert b'href="data.bin"' in response.body
    assert b'href="dir/"' in response.body


def test_directory_without_slash_redirects(fixtures_server):
    response = exchange(fixtures_server.port, b"GET /static HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 301
    assert response.header("Location") == "/static/"


def test_static_query_ignored(fixtures_server):
    response = exchange(fixtures_server.port, b"GET /static/dir/inner.txt?x=1 HTTP/1.1\r\n\r\n")
    assert response.status == 200 and response.body == b"inner\n"


@pytest.mark.parametrize(
    "path",
    [
        "/../../conftest.py",
        "/static/../../../conftest.py",
        "/%2e%2e/%2e%2e/conftest.py",
        "/..%2f..%2fconftest.py",
        "/static/..%2f..%2f..%2fconftest.py",
        "//etc/passwd",
        "/../../../../../../../../etc/passwd",
        "/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    ],
)
def test_dot_dot_cannot_escape_document_root(fixtures_server, path):
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    with RawConn(fixtures_server.port) as conn:
        conn.send(request)
        everything = conn.read_to_eof()
    # An error status (or nothing at all), and never the file outside the root.
    assert everything == b"" or everything.split(b" ")[1] in (b"400", b"403", b"404"), everything
    assert b"Shared fixtures" not in everything
    assert b"root:" not in everything


def test_post_to_static_path_501(fixtures_server):
    request = b"POST /static/data.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab"
    assert exchange(fixtures_server.port, request).status == 501


@pytest.mark.parametrize(
    "request_line", [b"GET / FOO/1.1", b"GET / HTTP/1.1 extra", b"GET / HTTP/x.y"]
)
def test_malformed_request_line_400(fixtures_server, request_line):
    with RawConn(fixtures_server.port) as conn:
        conn.send(request_line + b"\r\nHost: x\r\n\r\n")
        everything = conn.read_to_eof()
    # A 400 status line, or (as http.server does for an unparsable version) the bare 400 page.
    assert everything.startswith((b"HTTP/1.0 400 ", b"HTTP/1.1 400 ")) or (
        everything.startswith(b"<!DOCTYPE HTML>") and b"Error code: 400" in everything
    ), everything


def test_overlong_request_line_414_with_this_pythons_phrase(fixtures_server):
    """As http.server on the interpreter running the server (3.13 renamed the phrase)."""
    status = http.HTTPStatus.REQUEST_URI_TOO_LONG
    with RawConn(fixtures_server.port) as conn:
        conn.send(b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n")
        everything = conn.read_to_eof()
    assert everything.startswith(b"HTTP/1.0 414 %s\r\n" % status.phrase.encode())
    assert status.description.encode() in everything


# ------------------------------------------------------------ absolute URI, -V and -P


@pytest.fixture(scope="module")
def validating_server(tmp_path_factory):
    from conftest import start_server

    server = start_server(
        EXAMPLES_DIR,
        "-V",
        "localhost",
        "-P",
        "{port}",
        log_dir=tmp_path_factory.mktemp("validating"),
    )
    yield server
    server.stop()


def test_absolute_uri_accepted(validating_server):
    port = validating_server.port
    with open_ws(port, f"ws://localhost:{port}/echo") as conn:
        conn.send_frame(OP_TEXT, b"abs")
        assert conn.recv_frame().payload == b"abs"


@pytest.mark.parametrize(
    "target",
    [
        "ws://invalidlocalhost:{port}/echo",
        "ws://localhost:1/echo",
        "ws:///echo",
        "ws://localhost:notaport/echo",
        "http://localhost:{port}/echo",
    ],
)
def test_invalid_absolute_uri_404(validating_server, target):
    request = upgrade_request(target.format(port=validating_server.port))
    assert exchange(validating_server.port, request).status == 404


def test_relative_uri_still_works_with_validation(validating_server):
    with open_ws(validating_server.port, "/echo"):
        pass


# ------------------------------------------------------------------------- basic auth


AUTH_OK = ("Authorization", "Basic " + base64.b64encode(b"test:test").decode())


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    from conftest import start_server

    server = start_server(EXAMPLES_DIR, "--basic-auth", log_dir=tmp_path_factory.mktemp("auth"))
    yield server
    server.stop()


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("Authorization", "Basic " + base64.b64encode(b"invalid:test").decode())],
        [("Authorization", "basic " + base64.b64encode(b"test:test").decode())],
        [("Authorization", "Bearer x")],
    ],
)
def test_basic_auth_401_exact(auth_server, headers):
    response = exchange(auth_server.port, upgrade_request("/echo", extra=headers))
    assert response.status_line == "HTTP/1.0 401 Unauthorized"
    assert response.header_all("WWW-Authenticate") == ['Basic realm="Pywebsocket"']
    assert response.body == b""


def test_basic_auth_applies_to_static_files(auth_server):
    response = exchange(auth_server.port, b"GET /echo_wsh.py HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 401
    request = b"GET /echo_wsh.py HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n" % (
        AUTH_OK[1].encode()
    )
    assert exchange(auth_server.port, request).status == 200


def test_basic_auth_accepts_credential(auth_server):
    with open_ws(auth_server.port, "/echo", extra=[AUTH_OK]) as conn:
        conn.send_frame(OP_TEXT, b"Goodbye")
        assert conn.recv_frame().payload == b"Goodbye"
        assert conn.recv_close() == (1000, b"")


def test_basic_auth_custom_credential(server_factory):
    server = server_factory(EXAMPLES_DIR, "--basic-auth", "--basic-auth-credential", "me:pw")
    response = exchange(server.port, upgrade_request("/echo", extra=[AUTH_OK]))
    assert response.status == 401
    good = ("Authorization", "Basic " + base64.b64encode(b"me:pw").decode())
    with open_ws(server.port, "/echo", extra=[good]):
        pass


# -------------------------------------------------------------------- deflate offers


@pytest.mark.parametrize(
    "offer, answer",
    [
        ("permessage-deflate", "permessage-deflate"),
        ("permessage-deflate, deflate-frame", "permessage-deflate"),
        ("x-foo, permessage-deflate", "permessage-deflate"),
        (
            "permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
        ),
        (
            'permessage-deflate; server_max_window_bits="10"',
            "permessage-deflate; server_max_window_bits=10",
        ),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate"),
        ("permessage-deflate; server_max_window_bits=3000000", None),
        ("permessage-deflate; server_max_window_bits=7", None),
        ("permessage-deflate; server_max_window_bits=010", None),
        ("permessage-deflate; server_max_window_bits", None),
        ("permessage-deflate; server_no_context_takeover=1", None),
        ("permessage-deflate; foo=bar", None),
        ("deflate-frame", None),
    ],
)
def test_deflate_negotiation(examples_server, offer, answer):
    extra = [("Sec-WebSocket-Extensions", offer)]
    with open_ws(examples_server.port, "/echo", extra=extra) as conn:
        assert conn.response.header("Sec-WebSocket-Extensions") == answer
        conn.send_frame(OP_TEXT, b"still works")
        frame = conn.recv_frame()
        assert frame.opcode == OP_TEXT


@pytest.mark.parametrize(
    "query, offer, answer",
    [
        (
            "client_max_window_bits=10",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; client_max_window_bits=10",
        ),
        ("client_max_window_bits=10", "permessage-deflate", None),
        (
            "client_no_context_takeover=1",
            "permessage-deflate",
            "permessage-deflate; client_no_context_takeover",
        ),
        (
            "client_max_window_bits=9&client_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=9; "
            "client_no_context_takeover",
        ),
    ],
)
def test_deflate_processor_api_from_handler(fixtures_server, query, offer, answer):
    extra = [("Sec-WebSocket-Extensions", offer)]
    with open_ws(fixtures_server.port, "/deflate_options?" + query, extra=extra) as conn:
        assert conn.response.header("Sec-WebSocket-Extensions") == answer


def test_handler_source_dir_is_not_listed_outside_root():
    # Guard for the escape tests above: the marker they look for exists where they look.
    assert "Shared fixtures" in (TESTS_DIR / "conftest.py").read_text()


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; client_max_window_bits=10",
        "permessage-deflate; client_max_window_bits=9; client_no_context_takeover",
    ],
)
def test_deflate_offers_the_original_declined_are_accepted(examples_server, offer):
    """RFC 7692 allows these; the original declined them (issue 4)."""
    import zlib

    bits = 9 if "=9" in offer else 10 if "=10" in offer else 15
    extra = [("Sec-WebSocket-Extensions", offer)]
    with open_ws(examples_server.port, "/echo", extra=extra) as conn:
        answer = conn.response.header("Sec-WebSocket-Extensions")
        assert answer is not None and answer.split(";")[0] == "permessage-deflate"
        inflater = zlib.decompressobj(-15)
        for index in range(3):
            # A fresh compressor per message with the announced window, as such a client does.
            message = b"abc%d" % index * 50
            deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -bits)
            data = deflater.compress(message) + deflater.flush(zlib.Z_SYNC_FLUSH)
            conn.send(build_frame(OP_TEXT, data[:-4], rsv=4))
            frame = conn.recv_frame()
            assert frame.rsv == 4
            assert inflater.decompress(frame.payload + b"\0\0\xff\xff") == message
