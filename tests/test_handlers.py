"""Handler behaviour (§1.4, §1.5, §2): hooks, exceptions, raw connection access, threads.

Every test runs against the real server on tests/fixtures/handlers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib

import pytest
from conftest import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RawConn,
    close_payload,
    new_key,
    open_ws,
    upgrade_request,
    ws_connect,
)


def recv_text(conn) -> str:
    frame = conn.recv_frame()
    assert frame.opcode == OP_TEXT and frame.fin == 1, frame
    return frame.payload.decode("utf-8")


# ------------------------------------------------------------- web_socket_do_extra_handshake


@pytest.mark.parametrize("resource", ["/hs_value_error", "/hs_status_418"])
def test_extra_handshake_exception_gives_403(fixtures_server, resource):
    with RawConn(fixtures_server.port) as conn:
        response = conn.handshake(resource)
    assert response.status_line == "HTTP/1.0 403 Forbidden"
    assert response.header("Content-Type") == "text/html;charset=utf-8"
    assert response.header("Connection") == "close"
    assert int(response.header("Content-Length")) == len(response.body)
    assert b"403" in response.body


def test_extra_handshake_abort_sends_nothing(fixtures_server):
    with RawConn(fixtures_server.port) as conn:
        conn.send(upgrade_request("/hs_abort"))
        conn.expect_eof()


def test_raw_bytes_then_abort_are_the_whole_response(fixtures_server):
    with RawConn(fixtures_server.port) as conn:
        conn.send(upgrade_request("/raw_then_abort"))
        assert conn.read_to_eof() == b"HTTP/1.1 200 Handmade\r\nX-Raw: 1\r\n\r\nraw body"


def test_raw_bytes_before_101_stay_in_order(fixtures_server):
    with RawConn(fixtures_server.port) as conn:
        key = new_key()
        conn.send(upgrade_request("/raw_before_101", key=key))
        assert conn.read_exact(14) == b"PREFIX-BYTES\r\n"
        response = conn.read_response()
        assert response.status == 101
        assert recv_text(conn) == "after"


def test_raw_read_during_extra_handshake(fixtures_server):
    with RawConn(fixtures_server.port) as conn:
        conn.send(upgrade_request("/raw_read_in_handshake") + b"WXYZ")
        assert conn.read_response().status == 101
        assert recv_text(conn) == "early:WXYZ"


@pytest.mark.parametrize("separately", [False, True], ids=["with_head", "after_head"])
def test_raw_read_returns_what_one_receive_brings(fixtures_server, separately):
    # read(4096) with 5 bytes sent answers at once, as upstream's unbuffered socket file did.
    with RawConn(fixtures_server.port, timeout=2.0) as conn:
        request = upgrade_request("/raw_read_short_in_handshake")
        if separately:
            conn.send(request)
            time.sleep(0.2)
            conn.send(b"hello")
        else:
            conn.send(request + b"hello")
        started = time.monotonic()
        assert conn.read_response().status == 101
        assert recv_text(conn) == "early:hello"
        assert time.monotonic() - started < 1.0


def test_raw_read_after_handshake_is_exact(fixtures_server):
    with open_ws(fixtures_server.port, "/raw_read") as conn:
        # Raw bytes and the following frame in one segment: the raw read takes exactly 5.
        conn.send(b"abcde" + b"\x81\x85" + b"\x00\x00\x00\x00" + b"frame")
        assert recv_text(conn) == "raw:abcde"
        assert recv_text(conn) == "frame:frame"
        assert conn.recv_close() == (1000, b"")


def test_handshake_of_one_connection_does_not_block_others(fixtures_server):
    slow = RawConn(fixtures_server.port)
    try:
        slow.send(upgrade_request("/slow_handshake"))
        time.sleep(0.2)
        started = time.monotonic()
        with ws_connect(fixtures_server, "/echo") as ws:
            ws.send("quick")
            assert ws.recv() == "quick"
        assert time.monotonic() - started < 1.5  # the slow handshake takes 2 s
        assert slow.read_response().status == 101
    finally:
        slow.close()


# ------------------------------------------------------------------ web_socket_transfer_data


def test_transfer_return_closes_1000_and_waits_for_client(fixtures_server):
    with open_ws(fixtures_server.port, "/tr_return") as conn:
        assert conn.read_exact(4) == b"\x88\x02\x03\xe8"
        conn.assert_no_data(0.5)  # TCP stays open until our Close arrives
        conn.send_frame(OP_CLOSE, close_payload(1000))
        conn.expect_eof()


@pytest.mark.parametrize(
    "resource, close_frame, waits",
    [
        ("/tr_bad_operation", b"\x88\x02\x03\xf3", True),  # 1011
        ("/tr_unsupported", b"\x88\x02\x03\xeb", True),  # 1003
        ("/tr_invalid_utf8", b"\x88\x02\x03\xef", True),  # 1007
        ("/tr_invalid_frame", b"\x88\x02\x03\xea", False),  # 1002, no wait
    ],
)
def test_transfer_exception_close_codes(fixtures_server, resource, close_frame, waits):
    with open_ws(fixtures_server.port, resource) as conn:
        assert recv_text(conn) == "started"
        assert conn.read_exact(len(close_frame)) == close_frame
        if waits:
            conn.assert_no_data(0.5)
            conn.send_frame(OP_CLOSE, close_payload(1000))
        conn.expect_eof()


def test_bytes_sent_as_text_go_out_when_valid_utf8_else_close_1011(fixtures_server):
    with open_ws(fixtures_server.port, "/tr_bytes_as_text") as conn:
        assert recv_text(conn) == "started"
        assert recv_text(conn) == "caf\u00e9"
        # BadOperationException: Close 1011, then the server waits for the client's Close.
        assert conn.read_exact(4) == b"\x88\x02\x03\xf3"
        conn.assert_no_data(0.5)
        conn.send_frame(OP_CLOSE, close_payload(1000))
        conn.expect_eof()


@pytest.mark.parametrize("resource", ["/tr_abort", "/tr_terminated", "/tr_value_error"])
def test_transfer_exception_drops_without_close_frame(fixtures_server, resource):
    with open_ws(fixtures_server.port, resource) as conn:
        assert recv_text(conn) == "started"
        conn.expect_eof()


def test_transfer_value_error_is_logged_with_traceback(fixtures_server):
    with open_ws(fixtures_server.port, "/tr_value_error") as conn:
        assert recv_text(conn) == "started"
        conn.expect_eof()
    log = fixtures_server.wait_for_log("any other exception")
    assert "Traceback" in log


def test_server_initiated_close_waits_for_reply(fixtures_server):
    with open_ws(fixtures_server.port, "/server_close") as conn:
        assert conn.recv_close() == (4321, b"server says bye")
        conn.assert_no_data(0.3)
        conn.send_frame(OP_CLOSE, close_payload(4321))
        conn.expect_eof()


def test_handmade_close_suppresses_automatic_close(fixtures_server):
    with open_ws(fixtures_server.port, "/server_handmade_close") as conn:
        assert conn.recv_close() == (3000, b"handmade")
        conn.expect_eof()


# ------------------------------------------------------------- passive closing handshake


@pytest.mark.parametrize(
    "resource, client_close, reply",
    [
        ("/passive_custom", close_payload(1000), close_payload(4000, b"custom 1000")),
        ("/passive_custom", b"", close_payload(4000, b"custom 1005")),
        ("/passive_none", close_payload(1000), b""),
        ("/passive_reason_none", close_payload(3000, b"x"), close_payload(1001)),
        ("/passive_not_callable", close_payload(3000), close_payload(1000)),
        ("/echo", close_payload(4999, b"whatever"), close_payload(1000)),
        ("/echo", b"", close_payload(1000)),
    ],
)
def test_passive_close_hook_chooses_reply(fixtures_server, resource, client_close, reply):
    with open_ws(fixtures_server.port, resource) as conn:
        conn.send_frame(OP_CLOSE, client_close)
        frame = conn.recv_frame()
        assert (frame.opcode, frame.payload) == (OP_CLOSE, reply)
        conn.expect_eof()


def test_passive_close_hook_may_delay_reply(fixtures_server):
    with open_ws(fixtures_server.port, "/passive_delay") as conn:
        started = time.monotonic()
        conn.send_frame(OP_CLOSE, close_payload(1000))
        assert conn.recv_close() == (1000, b"late")
        assert time.monotonic() - started >= 0.9
        conn.expect_eof()


def test_passive_close_hook_abort_drops_without_reply(fixtures_server):
    with open_ws(fixtures_server.port, "/passive_abort") as conn:
        conn.send_frame(OP_CLOSE, close_payload(1000))
        conn.expect_eof()


# ---------------------------------------------------------------------- ping/pong hooks


def test_on_ping_handler_replaces_pong(fixtures_server):
    with open_ws(fixtures_server.port, "/on_ping") as conn:
        conn.send_frame(OP_PING, b"abc")
        assert recv_text(conn) == "ping:abc"
        conn.send_frame(OP_TEXT, b"m")
        assert recv_text(conn) == "echo:m"  # and no pong came before it


def test_on_pong_handler_called(fixtures_server):
    with open_ws(fixtures_server.port, "/on_pong") as conn:
        ping = conn.recv_frame()
        assert (ping.opcode, ping.payload, ping.masked) == (OP_PING, b"srv", False)
        conn.send_frame(OP_PONG, b"srv")
        assert recv_text(conn) == "pong:srv"
        conn.send_frame(OP_TEXT, b"m")
        assert recv_text(conn) == "echo:m"


def test_automatic_pong(fixtures_server):
    with open_ws(fixtures_server.port, "/echo") as conn:
        conn.send_frame(OP_PING, b"hello ping")
        pong = conn.recv_frame()
        assert (pong.opcode, pong.fin, pong.payload) == (OP_PONG, 1, b"hello ping")
        conn.send_frame(OP_PONG, b"unsolicited")  # ignored
        conn.send_frame(OP_TEXT, b"after")
        assert recv_text(conn) == "after"


# ------------------------------------------------------------------------- subprotocols


def test_protocol_chosen_by_handler(fixtures_server):
    with open_ws(
        fixtures_server.port, "/protocol_last", extra=[("Sec-WebSocket-Protocol", "a, b,c")]
    ) as conn:
        assert conn.response.header_all("Sec-WebSocket-Protocol") == ["c"]
        assert recv_text(conn) == "protocol=c"


def test_protocol_not_offered_but_chosen_is_sent(fixtures_server):
    with open_ws(
        fixtures_server.port, "/protocol_unoffered", extra=[("Sec-WebSocket-Protocol", "x")]
    ) as conn:
        assert conn.response.header("Sec-WebSocket-Protocol") == "not-offered"


def test_protocol_chosen_without_offer_is_400(fixtures_server):
    with RawConn(fixtures_server.port) as conn:
        assert conn.handshake("/protocol_unoffered").status == 400


def test_protocol_invalid_token_is_400(fixtures_server):
    with RawConn(fixtures_server.port) as conn:
        response = conn.handshake("/protocol_invalid", extra=[("Sec-WebSocket-Protocol", "x")])
    assert response.status == 400


def test_protocol_offered_not_chosen_is_400(fixtures_server):
    with RawConn(fixtures_server.port) as conn:
        assert conn.handshake("/echo", extra=[("Sec-WebSocket-Protocol", "x")]).status == 400


def test_requested_protocols_cleared(fixtures_server):
    with open_ws(
        fixtures_server.port, "/protocol_cleared", extra=[("Sec-WebSocket-Protocol", "x")]
    ) as conn:
        assert conn.response.header("Sec-WebSocket-Protocol") is None


def test_extra_headers_written_after_websocket_headers(fixtures_server):
    with open_ws(fixtures_server.port, "/extra_headers", key="dGhlIHNhbXBsZSBub25jZQ==") as conn:
        assert conn.response.head == (
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            b"X-First: one\r\n"
            b"Set-Cookie: a=b\r\n"
            b"Set-Cookie: c=d\r\n"
            b"\r\n"
        )


# ---------------------------------------------------------------- sending and threads


def test_fragmented_send(fixtures_server):
    with open_ws(fixtures_server.port, "/fragments") as conn:
        frames = [conn.recv_frame() for _ in range(5)]
        assert [(f.opcode, f.fin, f.payload) for f in frames] == [
            (OP_TEXT, 0, b"Hel"),
            (OP_CONT, 0, b"lo "),
            (OP_CONT, 1, b"World"),
            (OP_BINARY, 0, b"\x01"),
            (OP_CONT, 1, b"\x02"),
        ]
        conn.send_frame(OP_BINARY, b"ab", fin=False)
        conn.send_frame(OP_CONT, b"cd", fin=False)
        conn.send_frame(OP_CONT, b"", fin=True)
        assert recv_text(conn) == "bytes:4:b'abcd'"


def test_slow_reader_blocks_sender_and_loses_nothing(fixtures_server):
    count = 600  # 600 x 64 KiB = 37.5 MiB: far more than socket buffers hold
    run_id = str(time.monotonic_ns())
    with open_ws(fixtures_server.port, f"/backpressure?run={run_id}&count={count}") as conn:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        time.sleep(1.5)
        with ws_connect(fixtures_server, f"/backpressure?status={run_id}") as status:
            sent_while_stalled = int(status.recv())
        assert 0 < sent_while_stalled < count // 2, sent_while_stalled
        for index in range(count):
            frame = conn.recv_frame()
            assert frame.opcode == OP_BINARY and frame.fin == 1
            assert frame.payload == index.to_bytes(4, "big") * (65536 // 4), index
        assert recv_text(conn) == "done"
        assert conn.recv_close() == (1000, b"")


def test_two_threads_send_and_receive_on_one_connection(fixtures_server):
    with ws_connect(fixtures_server, "/two_threads") as ws:
        received: list[str] = []

        def reader():
            while True:
                message = ws.recv(timeout=20)
                received.append(message)
                if message == "finished":
                    return

        thread = threading.Thread(target=reader)
        thread.start()
        for index in range(100):
            ws.send(f"m{index}")
        ws.send("stop")
        thread.join(30)
        assert not thread.is_alive()
    ticks = [m for m in received if m.startswith("tick:")]
    echoes = [m for m in received if m.startswith("echo:")]
    assert ticks == [f"tick:{i}" for i in range(200)]
    assert echoes == [f"echo:m{i}" for i in range(100)]
    assert received[-1] == "finished"


# --------------------------------------------------------------------- imports and request


def test_handler_importing_mod_pywebsocket(fixtures_server):
    with ws_connect(fixtures_server, "/import_mod") as ws:
        assert ws.recv() == "same=True code=1001"
        ws.send("shout")
        assert ws.recv() == "SHOUT"


def test_handler_importing_pywebsocket3_helpers(fixtures_server):
    with open_ws(fixtures_server.port, "/import_py3") as conn:
        assert recv_text(conn) == "built by create_text_frame"
        frame = conn.recv_frame()
        assert (frame.opcode, frame.payload) == (OP_BINARY, b"\x01\x02")
        assert conn.recv_close() == (1001, b"bye")
        conn.expect_eof()  # 1001 does not wait for the reply


def test_request_object_attributes(fixtures_server):
    key = new_key()
    extra = [
        ("X-Custom", "custom value"),
        ("X-Multi", "1"),
        ("X-Multi", "2"),
        ("Sec-WebSocket-Extensions", "permessage-deflate, x-unknown"),
    ]
    request = upgrade_request("/request_attrs?q=1", key=key, extra=extra, origin="http://o.test")
    with RawConn(fixtures_server.port) as conn:
        conn.send(request)
        response = conn.read_response()
        assert response.status == 101
        frame = conn.recv_frame()
        assert frame.rsv == 4  # permessage-deflate was negotiated: RSV1 on a compressed message
        info = json.loads(zlib.decompressobj(-15).decompress(frame.payload + b"\0\0\xff\xff"))
        assert info["uri"] == info["unparsed_uri"] == info["ws_resource"] == "/request_attrs?q=1"
        assert info["method"] == "GET"
        assert info["protocol"] == "HTTP/1.1"
        assert info["is_https"] is False
        assert info["ws_origin"] == "http://o.test"
        assert info["ws_version"] == 13
        assert info["ws_protocol"] is None
        assert info["ws_requested_protocols"] is None
        assert info["ws_requested_extensions"] == ["permessage-deflate", "x-unknown"]
        assert info["ws_extensions"] == ["permessage-deflate"]
        assert info["ws_close_code"] is None and info["ws_close_reason"] is None
        assert info["client_terminated"] is False and info["server_terminated"] is False
        assert info["custom_attribute"] == "kept"
        assert info["in_handshake"] == {
            "extra_headers": [],
            "processors": ["deflate"],
        }
        assert info["x_custom"] == info["x_custom_item"] == "custom value"
        assert info["missing_item"] is None
        assert info["x_multi_all"] == ["1", "2"]
        assert info["header_names"] == [
            "Host",
            "Upgrade",
            "Connection",
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Version",
            "Origin",
            "X-Custom",
            "X-Multi",
            "X-Multi",
            "Sec-WebSocket-Extensions",
        ]
        assert info["has_host"] is True
        assert info["remote_addr"][0] in ("127.0.0.1", "::ffff:127.0.0.1")
        assert info["remote_addr"][1] == conn.sock.getsockname()[1]
        assert info["local_addr"][1] == fixtures_server.port
        lines = info["memorized_lines"]
        assert lines[0] == "GET /request_attrs?q=1 HTTP/1.1\r\n"
        assert "X-Custom: custom value\r\n" in lines
        assert info["name"] == "builtins"
        assert info["has_file"] is False


@pytest.mark.parametrize(
    "client_close, reply_reason",
    [
        (close_payload(3456, "déjà".encode()), "3456|déjà|True"),
        (close_payload(1000), "1000||True"),
        (b"", "1005|None|True"),
    ],
)
def test_request_close_attributes(fixtures_server, client_close, reply_reason):
    with open_ws(fixtures_server.port, "/request_attrs") as conn:
        recv_text(conn)
        conn.send_frame(OP_CLOSE, client_close)
        assert conn.recv_close() == (1000, reply_reason.encode())
        conn.expect_eof()
