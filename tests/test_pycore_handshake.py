"""HandshakerBase / hybi.Handshaker / handshake.do_handshake against a socketpair request."""

import pytest
from pycore_helpers import ACCEPT, Dispatcher, Request, recv_head, socket_pair, upgrade_headers
from pywebsocket3 import handshake
from pywebsocket3.handshake import _base, base, hybi
from pywebsocket3.stream import Stream


def _handshake(headers, extra_handshake=None, **request_kwargs):
    connection, client = socket_pair()
    request = Request(connection, headers, **request_kwargs)
    handshake.do_handshake(request, Dispatcher(extra_handshake))
    return request, recv_head(client).decode("utf-8")


def _expected_101(*extra_lines):
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Accept: %s\r\n" % ACCEPT + "".join(line + "\r\n" for line in extra_lines)
    ) + "\r\n"


def test_accept_computation():
    assert hybi.compute_accept(b"dGhlIHNhbXBsZSBub25jZQ==") == ACCEPT.encode()
    assert hybi.compute_accept_from_unicode("dGhlIHNhbXBsZSBub25jZQ==") == ACCEPT.encode()


def test_exact_101_and_request_attributes():
    request, response = _handshake(upgrade_headers())
    assert response == _expected_101()
    assert request.ws_resource == "/echo"
    assert request.ws_version == 13
    assert request.ws_origin == "http://example.com"
    assert request.ws_protocol is None and request.ws_requested_protocols is None
    assert request.ws_requested_extensions is None and request.ws_extensions is None
    assert request.ws_extension_processors == []
    assert request.extra_headers == []
    assert request.ws_close_code is None and request.ws_close_reason is None
    assert request._accept == ACCEPT.encode()
    assert isinstance(request.ws_stream, Stream)
    assert request.client_terminated is False and request.server_terminated is False


def test_lenient_header_values_accepted():
    request, response = _handshake(
        upgrade_headers(upgrade="WebSocket", connection="keep-alive, Upgrade, , ", origin=None)
    )
    assert response == _expected_101()
    assert request.ws_origin is None


def test_extra_headers_raw_writes_and_what_the_extra_handshake_sees():
    seen = {}

    def extra(request):
        seen["has_ws_extensions"] = hasattr(request, "ws_extensions")
        seen["has_ws_stream"] = hasattr(request, "ws_stream")
        request.connection.write(b"raw-before-101\r\n")
        request.extra_headers.append(("Set-Cookie", "a=b"))
        request.extra_headers.append(("X-Injected", "1\r\nX-Second: 2"))

    connection, client = socket_pair()
    request = Request(connection, upgrade_headers())
    handshake.do_handshake(request, Dispatcher(extra))
    assert seen == {"has_ws_extensions": False, "has_ws_stream": False}
    assert client.recv(16) == b"raw-before-101\r\n"
    assert recv_head(client).decode() == _expected_101(
        "Set-Cookie: a=b", "X-Injected: 1", "X-Second: 2"
    )


@pytest.mark.parametrize(
    "headers,request_kwargs",
    [
        (upgrade_headers(), {"method": "POST"}),
        (upgrade_headers(), {"protocol": "HTTP/1.0"}),
        (upgrade_headers(upgrade=None), {}),
        (upgrade_headers(upgrade="websocket, foo"), {}),
        (upgrade_headers(connection=None), {}),
        (upgrade_headers(connection="keep-alive"), {}),
        (upgrade_headers(connection="Upgrade;x"), {}),
        (upgrade_headers(host=None), {}),
        (upgrade_headers(sec_websocket_version=None), {}),
    ],
)
def test_request_errors_without_status_become_400(headers, request_kwargs):
    connection, client = socket_pair()
    request = Request(connection, headers, **request_kwargs)
    with pytest.raises(base.HandshakeException) as direct:
        hybi.Handshaker(request, Dispatcher()).do_handshake()
    assert direct.value.status is None
    with pytest.raises(base.HandshakeException) as wrapped:
        handshake.do_handshake(request, Dispatcher())
    assert wrapped.value.status == 400
    assert str(wrapped.value) == "Failed to complete opening handshake for all available protocols"


@pytest.mark.parametrize(
    "headers",
    [
        upgrade_headers(sec_websocket_version="13, 8"),
        upgrade_headers(sec_websocket_key=None),
        upgrade_headers(sec_websocket_key="dGhlIHNhbXBsZSBub25jZQ"),
        upgrade_headers(sec_websocket_key="dGhlIHNhbXBsZSBub25jZR=="),
        upgrade_headers(sec_websocket_key="dGhlIHNhbXBsZSBub25jZQ==,x"),
        upgrade_headers(sec_websocket_key="YQ=="),
        upgrade_headers(sec_websocket_protocol=""),
        upgrade_headers(sec_websocket_protocol="a b"),
        upgrade_headers(sec_websocket_extensions="permessage-deflate; =x"),
    ],
)
def test_errors_with_status_400(headers):
    connection, _client = socket_pair()
    with pytest.raises(base.HandshakeException) as info:
        handshake.do_handshake(Request(connection, headers), Dispatcher())
    assert info.value.status == 400


def test_unsupported_version_raises_version_exception():
    connection, _client = socket_pair()
    request = Request(connection, upgrade_headers(sec_websocket_version="8"))
    with pytest.raises(base.VersionException) as info:
        handshake.do_handshake(request, Dispatcher())
    assert info.value.supported_versions == "13"


def test_extra_handshake_exceptions_propagate_unchanged():
    def abort(request):
        raise handshake.AbortedByUserException("stop")

    connection, _client = socket_pair()
    with pytest.raises(handshake.AbortedByUserException):
        handshake.do_handshake(Request(connection, upgrade_headers()), Dispatcher(abort))

    def reject(request):
        raise handshake.HandshakeException("teapot", 418)

    connection, _client = socket_pair()
    with pytest.raises(handshake.HandshakeException) as info:
        handshake.do_handshake(Request(connection, upgrade_headers()), Dispatcher(reject))
    assert info.value.status == 418


def test_subprotocol_rules():
    def choose_second(request):
        request.ws_protocol = request.ws_requested_protocols[1]

    headers = upgrade_headers(sec_websocket_protocol="chat, superchat")
    request, response = _handshake(headers, choose_second)
    assert request.ws_requested_protocols == ["chat", "superchat"]
    assert response == _expected_101("Sec-WebSocket-Protocol: superchat")

    # Offered but none chosen.
    with pytest.raises(handshake.HandshakeException) as info:
        _handshake(headers)
    assert info.value.status == 400

    # Any token is accepted, offered or not.
    def choose_other(request):
        request.ws_protocol = "other"

    assert _handshake(headers, choose_other)[1] == _expected_101("Sec-WebSocket-Protocol: other")

    def choose_bad(request):
        request.ws_protocol = "bad token"

    with pytest.raises(handshake.HandshakeException):
        _handshake(headers, choose_bad)

    # Not offered: ws_protocol must stay None.
    with pytest.raises(handshake.HandshakeException) as info:
        _handshake(upgrade_headers(), choose_other)
    assert info.value.status == 400

    # Clearing the offer turns the check off.
    def clear(request):
        request.ws_requested_protocols = None

    assert _handshake(headers, clear)[1] == _expected_101()


def test_validate_subprotocol_and_token_lists():
    base.validate_subprotocol("chat")
    for bad in ("", "a b", "a,b", "caf\u00e9"):
        with pytest.raises(base.HandshakeException):
            base.validate_subprotocol(bad)
    assert base.parse_token_list("a, b ,,c") == ["a", "b", "c"]
    with pytest.raises(base.HandshakeException):
        base.parse_token_list(" , ")


def test_header_helpers():
    connection, _client = socket_pair()
    request = Request(connection, [("Host", "example.com:8080"), ("Upgrade", "WebSocket")])
    assert base.parse_host_header(request) == ("example.com", 8080)
    assert base.get_default_port(True) == 443 and base.get_default_port(False) == 80
    assert base.get_mandatory_header(request, "upgrade") == "WebSocket"
    base.validate_mandatory_header(request, "Upgrade", "websocket")
    with pytest.raises(base.HandshakeException) as info:
        base.validate_mandatory_header(request, "Upgrade", "other", fail_status=426)
    assert info.value.status == 426
    with pytest.raises(base.HandshakeException):
        base.get_mandatory_header(request, "Missing")
    assert hybi.format_header("A", "b") == "A: b\r\n"
    assert _base.check_request_line is hybi.check_request_line
    assert _base.HandshakerBase is base.HandshakerBase
    # mod_pywebsocket passed allowDraft75/strict; they are ignored.
    connection, client = socket_pair()
    handshake.do_handshake(
        Request(connection, upgrade_headers()), Dispatcher(), allowDraft75=False, strict=False
    )
    assert recv_head(client).decode() == _expected_101()


@pytest.mark.parametrize(
    "offer,response",
    [
        ("permessage-deflate", "permessage-deflate"),
        (
            "permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
        ),
        (
            'permessage-deflate; server_max_window_bits="10"',
            "permessage-deflate; server_max_window_bits=10",
        ),
        ("permessage-deflate, deflate-frame", "permessage-deflate"),
        ("deflate-frame, permessage-deflate", "permessage-deflate"),
        ("permessage-deflate; client_no_context_takeover", "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits=10", "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate"),
        ("permessage-deflate; server_max_window_bits=3000000", None),
        ("permessage-deflate; server_max_window_bits=08", None),
        ("permessage-deflate; server_max_window_bits", None),
        ("permessage-deflate; server_no_context_takeover=1", None),
        ("permessage-deflate; foo=bar", None),
        ("permessage-deflate; client_max_window_bits=16", None),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
        ("permessage-deflate; foo, permessage-deflate", "permessage-deflate"),
        ("x-unknown", None),
    ],
)
def test_deflate_negotiation(offer, response):
    request, head = _handshake(upgrade_headers(sec_websocket_extensions=offer))
    if response is None:
        assert head == _expected_101()
        assert request.ws_extensions is None
    else:
        assert head == _expected_101("Sec-WebSocket-Extensions: " + response)
        assert len(request.ws_extensions) == 1


def test_handler_controls_deflate():
    offer = "permessage-deflate; client_max_window_bits, permessage-deflate"
    names = []

    def configure(request):
        names.extend(p.name() for p in request.ws_extension_processors)
        processor = request.ws_extension_processors[0]
        assert processor.request().name() == "permessage-deflate"
        processor.set_client_max_window_bits(10)
        processor.set_client_no_context_takeover(True)

    request, head = _handshake(upgrade_headers(sec_websocket_extensions=offer), configure)
    assert names == ["deflate", "deflate"]
    assert head == _expected_101(
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10; "
        "client_no_context_takeover"
    )
    assert not request.ws_extension_processors[1].is_active()

    def disable(request):
        request.ws_extension_processors = []

    head = _handshake(upgrade_headers(sec_websocket_extensions="permessage-deflate"), disable)[1]
    assert head == _expected_101()

    def set_none(request):
        request.ws_extension_processors[0] = None

    head = _handshake(upgrade_headers(sec_websocket_extensions="permessage-deflate"), set_none)[1]
    assert head == _expected_101()

    # client_max_window_bits=N offered: our limit may only lower it.
    def ask_12(request):
        request.ws_extension_processors[0].set_client_max_window_bits(12)

    offer = "permessage-deflate; client_max_window_bits=11"
    head = _handshake(upgrade_headers(sec_websocket_extensions=offer), ask_12)[1]
    assert head == _expected_101(
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=11"
    )

    # A limit the client cannot accept declines the extension.
    head = _handshake(upgrade_headers(sec_websocket_extensions="permessage-deflate"), ask_12)[1]
    assert head == _expected_101()


class _Http2StyleHandshaker(base.HandshakerBase):
    """What wptserve's RFC 8441 handshaker overrides: lower-case headers, no key/accept."""

    def _transform_header(self, header):
        return header.lower()

    def _protocol_rfc(self):
        return "RFC 8441"

    def _validate_request(self):
        if self._request.method != "CONNECT":
            raise base.HandshakeException("Method is not CONNECT")
        base.validate_mandatory_header(self._request, ":protocol", "websocket")

    def _set_accept(self):
        pass

    def _send_handshake(self):
        self._request.status = 200
        self._request.headers_out = {}
        if self._request.ws_protocol is not None:
            self._request.headers_out["sec-websocket-protocol"] = self._request.ws_protocol


def test_handshaker_base_subclass_like_http2():
    connection, _client = socket_pair()
    headers = [
        (":protocol", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-protocol", "chat"),
        ("origin", "https://example.com"),
    ]
    request = Request(connection, [], method="CONNECT", protocol="HTTP/2")
    # HTTP/2 pseudo-headers do not parse as HTTP/1 headers; embedders pass a mapping.
    request.headers_in = dict(headers)

    def choose(request):
        request.ws_protocol = "chat"

    _Http2StyleHandshaker(request, Dispatcher(choose)).do_handshake()
    assert request.status == 200
    assert request.headers_out == {"sec-websocket-protocol": "chat"}
    assert request.ws_origin == "https://example.com"
    assert isinstance(request.ws_stream, Stream)

    # The base class refuses to run without the subclass methods.
    with pytest.raises(AssertionError):
        base.HandshakerBase(request, Dispatcher()).do_handshake()
