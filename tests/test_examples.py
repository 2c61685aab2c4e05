"""Every file in examples/ exercised against the real server."""

from __future__ import annotations

import contextlib
import datetime
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from conftest import (
    EXAMPLES_DIR,
    OP_BINARY,
    OP_CLOSE,
    OP_TEXT,
    REPO_ROOT,
    RawConn,
    close_payload,
    open_ws,
    ws_connect,
)
from websockets.exceptions import ConnectionClosed


def test_echo_text_and_binary(examples_server):
    with ws_connect(examples_server, "/echo") as ws:
        for text in ["hello", "", "日本語", "x" * 70000]:
            ws.send(text)
            assert ws.recv() == text
        for data in [b"\x00\x80\xfe\xff", b"", bytes(range(256)) * 300]:
            ws.send(data)
            assert ws.recv() == data


def test_echo_goodbye_makes_server_close_1000(examples_server):
    with open_ws(examples_server.port, "/echo") as conn:
        conn.send_frame(OP_TEXT, b"Goodbye")
        frame = conn.recv_frame()
        assert (frame.opcode, frame.payload) == (OP_TEXT, b"Goodbye")
        assert conn.recv_close() == (1000, b"")
        conn.send_frame(OP_CLOSE, close_payload(1000))
        conn.expect_eof()


def test_echo_with_websockets_client_and_deflate(examples_server):
    with ws_connect(examples_server, "/echo", compression="deflate") as ws:
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        for text in ["Hello", "Hello", "abc" * 10000]:
            ws.send(text)
            assert ws.recv() == text


def test_echo_noext_declines_deflate(examples_server):
    with open_ws(
        examples_server.port,
        "/echo_noext",
        extra=[("Sec-WebSocket-Extensions", "permessage-deflate")],
    ) as conn:
        assert conn.response.header("Sec-WebSocket-Extensions") is None
        conn.send_frame(OP_BINARY, b"\x01\x02")
        frame = conn.recv_frame()
        assert (frame.opcode, frame.rsv, frame.payload) == (OP_BINARY, 0, b"\x01\x02")
        assert conn.close_handshake() == (1000, b"")


def test_close_server_initiated_with_code_and_reason(examples_server):
    with open_ws(examples_server.port, "/close") as conn:
        conn.send_frame(OP_TEXT, b"3001 going now")
        assert conn.recv_close() == (3001, b"going now")
        conn.send_frame(OP_CLOSE, close_payload(3001))
        conn.expect_eof()


@pytest.mark.parametrize(
    "sent, expected",
    [
        (close_payload(3333, b"sunsunsunsun"), b"\x88\x0e\x0d\x05sunsunsunsun"),
        (b"", b"\x88\x00"),
        (close_payload(1000), b"\x88\x02\x03\xe8"),
    ],
)
def test_close_passive_hook_echoes_client_close(examples_server, sent, expected):
    with open_ws(examples_server.port, "/close") as conn:
        conn.send_frame(OP_CLOSE, sent)
        assert conn.read_exact(len(expected)) == expected
        conn.expect_eof()


def test_abort_drops_without_close_frame(examples_server):
    with open_ws(examples_server.port, "/abort") as conn:
        conn.expect_eof()


def test_abort_handshake_sends_nothing(examples_server):
    with RawConn(examples_server.port) as conn:
        conn.send(b"GET /abort_handshake HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        conn.send(b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
        conn.send(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        conn.expect_eof()


def test_internal_error_closes_1011(examples_server):
    with open_ws(examples_server.port, "/internal_error") as conn:
        assert conn.recv_close() == (1011, b"")
        conn.send_frame(OP_CLOSE, close_payload(1011))
        conn.expect_eof()


def test_origin_check_accepts_example_com_and_writes_raw_bytes(examples_server):
    with open_ws(examples_server.port, "/origin_check", origin="http://example.com") as conn:
        note = b"origin_check_wsh.py is called for /origin_check, None"
        assert conn.read_exact(len(note)) == note
        # The handler then returns: the normal Close 1000 follows the raw bytes.
        assert conn.recv_close() == (1000, b"")


def test_origin_check_rejects_other_origins_403(examples_server):
    with RawConn(examples_server.port) as conn:
        response = conn.handshake("/origin_check", origin="http://localhost")
        assert response.status_line == "HTTP/1.0 403 Forbidden"


@pytest.mark.parametrize(
    "query, cookies",
    [
        ("set", ["foo=bar; Max-Age=86400"]),
        ("set_httponly", ["httpOnlyFoo=bar; Max-Age=86400; HttpOnly"]),
        ("clear", ["foo=0; Max-Age=0", "httpOnlyFoo=0; Max-Age=0; HttpOnly"]),
        ("", []),
    ],
)
def test_cookie_sets_headers_from_query(examples_server, query, cookies):
    with open_ws(examples_server.port, "/cookie?" + query if query else "/cookie") as conn:
        assert conn.response.header_all("Set-Cookie") == cookies
        assert conn.recv_close() == (1000, b"")


def test_hsts_header_and_hello(examples_server):
    with ws_connect(examples_server, "/hsts") as ws:
        assert ws.response.headers["Strict-Transport-Security"] == "max-age=86400"
        assert ws.recv() == "Hello"


def test_bench_sends_count_messages(examples_server):
    with ws_connect(examples_server, "/bench") as ws:
        ws.send("0 5 payload")
        assert [ws.recv() for _ in range(5)] == ["payload"] * 5
        started = time.monotonic()
        ws.send("0.2 3 slow")
        assert [ws.recv() for _ in range(3)] == ["slow"] * 3
        assert time.monotonic() - started >= 0.35


def test_chat_broadcasts_to_every_member(examples_server):
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(ws_connect(examples_server, "/chat")) for _ in range(3)]
        time.sleep(0.3)  # let every handler register its member
        clients[0].send("hi from 0")
        for client in clients:
            assert client.recv(timeout=5) == "hi from 0"
        # Concurrent senders: every member gets every message exactly once.
        threads = [
            threading.Thread(target=lambda c=c, i=i: [c.send(f"{i}:{n}") for n in range(20)])
            for i, c in enumerate(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for client in clients:
            received = sorted(client.recv(timeout=5) for _ in range(60))
            assert received == sorted(f"{i}:{n}" for i in range(3) for n in range(20))


def test_chat_member_leaving_does_not_break_the_room(examples_server):
    with ws_connect(examples_server, "/chat") as a:
        with ws_connect(examples_server, "/chat"):
            time.sleep(0.2)
        time.sleep(0.2)
        a.send("still here")
        assert a.recv(timeout=5) == "still here"


def test_clock_pushes_time_every_second_until_close(examples_server):
    with open_ws(examples_server.port, "/clock") as conn:
        stamps = []
        for _ in range(3):
            frame = conn.recv_frame()
            assert frame.opcode == OP_TEXT
            stamps.append((time.monotonic(), frame.payload.decode()))
        parsed = [datetime.datetime.fromisoformat(text) for _, text in stamps]
        assert all(p.tzinfo is not None for p in parsed)
        now = datetime.datetime.now(datetime.timezone.utc)
        assert abs((now - parsed[-1]).total_seconds()) < 5
        gaps = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])]
        assert all(0.5 < gap < 2.0 for gap in gaps), gaps
        # The client closes; the reply comes at once (not after the next tick) and TCP ends.
        started = time.monotonic()
        conn.send_frame(OP_CLOSE, close_payload(1000))
        while True:
            frame = conn.recv_frame()
            if frame.opcode == OP_CLOSE:
                break
            assert frame.opcode == OP_TEXT
        assert frame.payload == close_payload(1000)
        assert time.monotonic() - started < 1.0
        conn.expect_eof()


def test_subprotocol_chooses_first_offer(examples_server):
    with ws_connect(examples_server, "/subprotocol", subprotocols=["chat.v2", "chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v2"
        ws.send("hi")
        assert ws.recv() == "chat.v2: hi"


def test_subprotocol_without_offer(examples_server):
    with open_ws(examples_server.port, "/subprotocol") as conn:
        assert conn.response.header("Sec-WebSocket-Protocol") is None
        conn.send_frame(OP_TEXT, b"x")
        assert conn.recv_frame().payload == b"None: x"


def test_echo_rejects_subprotocol_offer_400(examples_server):
    with RawConn(examples_server.port) as conn:
        response = conn.handshake("/echo", extra=[("Sec-WebSocket-Protocol", "chat")])
        assert response.status == 400


def test_handler_map_aliases(server_factory):
    server = server_factory(EXAMPLES_DIR, "-m", str(EXAMPLES_DIR / "handler_map.txt"))
    with ws_connect(server, "/") as ws:
        ws.send("via alias")
        assert ws.recv() == "via alias"
    with ws_connect(server, "/chatroom") as ws:
        time.sleep(0.2)
        ws.send("room")
        assert ws.recv(timeout=5) == "room"


def test_cgi_hi(server_factory):
    server = server_factory(EXAMPLES_DIR, "--cgi-paths", "/cgi-bin")
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/cgi-bin/hi.py", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain"
        assert r.read().rstrip(b"\r\n") == b"Hi from hi.py"


def test_cgi_script_committed_executable():
    mode = subprocess.run(
        ["git", "ls-files", "-s", "examples/cgi-bin/hi.py"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    assert mode == "100755"


@pytest.mark.parametrize(
    "args, expected",
    [
        ([], "Send: Hello\nRecv: Hello\nSend: <>\nRecv: <>\nSend close\nRecv ack\n"),
        (["-m", "a" * 1024], f"Send: {'a' * 1024}\nRecv: {'a' * 1024}\nSend close\nRecv ack\n"),
        (
            ["--use-permessage-deflate", "-m", "x,y"],
            "Send: x\nRecv: x\nSend: y\nRecv: y\nSend close\nRecv ack\n",
        ),
    ],
)
def test_echo_client(examples_server, args, expected):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / "echo_client.py"), "-s", "127.0.0.1"]
        + ["-p", str(examples_server.port), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_handler_source_is_served_as_static(examples_server):
    with RawConn(examples_server.port) as conn:
        conn.send(b"GET /echo_wsh.py HTTP/1.1\r\nHost: x\r\n\r\n")
        response = conn.read_response()
    assert response.status == 200
    assert response.body == (EXAMPLES_DIR / "echo_wsh.py").read_bytes()


def test_websockets_client_sees_server_close_after_goodbye(examples_server):
    with ws_connect(examples_server, "/echo") as ws:
        ws.send("Goodbye")
        assert ws.recv() == "Goodbye"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd.code == 1000
