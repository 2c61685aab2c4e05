"""pywebsocket3.channels in one process: members of blocking, async and greenlet handlers,
delivery from threads and tasks, leaving, and a member too slow to keep up (Close 1008).

The handlers are tests/fixtures/channels (room_wsh.py and its async twin); the clients are the
websockets library and raw sockets.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import struct
import time

import pytest
from conftest import (
    OP_BINARY,
    OP_CLOSE,
    OP_TEXT,
    TESTS_DIR,
    RawConn,
    run_server_expecting_exit,
    self_signed_certificate,
    ws_connect,
)
from websockets.sync.client import connect

CHANNEL_HANDLERS = TESTS_DIR / "fixtures" / "channels"


@pytest.fixture(params=["threads", "greenlets"])
def room_server(request, server_factory):
    extra = ["--greenlets"] if request.param == "greenlets" else []
    return server_factory(CHANNEL_HANDLERS, *extra)


def wait_members(client, count: int, timeout: float = 5.0) -> None:
    """Asks the server (through `client`) until the room has `count` local members."""
    deadline = time.monotonic() + timeout
    while True:
        client.send("!members")
        members = int(client.recv(timeout=5))
        if members == count or time.monotonic() > deadline:
            assert members == count
            return
        time.sleep(0.02)


def stats(client) -> dict:
    client.send("!stats")
    return json.loads(client.recv(timeout=5))


def test_every_member_gets_every_message_once_in_order_per_publisher(room_server):
    paths = ["/room?name=r1", "/room_async?name=r1"] * 2
    with contextlib.ExitStack() as stack:
        members = [stack.enter_context(ws_connect(room_server, p)) for p in paths]
        wait_members(members[0], len(members))
        for index, member in enumerate(members):
            for n in range(25):
                member.send(f"{index}:{n}")
        for member in members:
            got = [member.recv(timeout=10) for _ in range(100)]
            assert sorted(got) == sorted(f"{i}:{n}" for i in range(4) for n in range(25))
            for index in range(4):
                mine = [int(m.split(":")[1]) for m in got if m.startswith(f"{index}:")]
                assert mine == list(range(25))
        with pytest.raises(TimeoutError):
            members[0].recv(timeout=0.3)


def test_text_and_binary_keep_their_type_and_bytes(room_server):
    every_byte = bytes(range(256)) * 3
    with (
        ws_connect(room_server, "/room?name=bin") as a,
        ws_connect(room_server, "/room_async?name=bin") as b,
    ):
        wait_members(a, 2)
        # One publisher at a time: order is only kept per publisher.
        a.send(every_byte)
        for member in (a, b):
            assert member.recv(timeout=5) == every_byte
        b.send("héllo ✓")
        for member in (a, b):
            assert member.recv(timeout=5) == "héllo ✓"


def test_publish_from_a_plain_thread_and_from_another_task(room_server):
    with (
        ws_connect(room_server, "/room?name=t") as a,
        ws_connect(room_server, "/room_async?name=t") as b,
    ):
        wait_members(a, 2)
        a.send("!thread")
        a.send("from a thread")
        assert a.recv(timeout=5) == "from a thread"
        assert b.recv(timeout=5) == "from a thread"
        b.send("!later")
        assert a.recv(timeout=5) == "later"
        assert b.recv(timeout=5) == "later"


def test_a_member_that_disconnects_or_unsubscribes_leaves(room_server):
    with ws_connect(room_server, "/room?name=l") as a:
        with ws_connect(room_server, "/room_async?name=l"):
            wait_members(a, 2)
        wait_members(a, 1)
        with ws_connect(room_server, "/room?name=l") as c:
            wait_members(a, 2)
            c.send("!leave")
            assert c.recv(timeout=5) == "left"
            wait_members(a, 1)
            a.send("only a")
            assert a.recv(timeout=5) == "only a"
            with pytest.raises(TimeoutError):
                c.recv(timeout=0.3)


def test_a_member_with_permessage_deflate_gets_the_messages(room_server):
    with (
        ws_connect(room_server, "/room?name=z", compression="deflate") as a,
        ws_connect(room_server, "/room_async?name=z", compression="deflate") as b,
    ):
        wait_members(a, 2)
        for n in range(5):
            b.send("compressed? " * n)
        assert [a.recv(timeout=5) for _ in range(5)] == ["compressed? " * n for n in range(5)]


def slow_member(port: int, path: str) -> RawConn:
    """A member whose receive buffer is tiny and which never reads (until the test does)."""
    conn = RawConn.__new__(RawConn)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    conn.sock, conn.buf = sock, b""
    response = conn.handshake(path)
    assert response.status == 101
    return conn


@pytest.mark.parametrize("path", ["/room?name=s", "/room_async?name=s"])
def test_a_member_too_slow_is_closed_with_1008_and_the_others_keep_receiving(server_factory, path):
    server = server_factory(
        CHANNEL_HANDLERS, "--channels-queue-limit", "65536", "--log-level", "info"
    )
    slow = slow_member(server.port, path)
    try:
        with ws_connect(server, "/room?name=s", max_size=None) as fast:
            wait_members(fast, 2)
            payload = "x" * 16384
            for n in range(200):
                fast.send(f"{n:03d}" + payload)
                assert fast.recv(timeout=10) == f"{n:03d}" + payload
            assert stats(fast)["closed_slow"] == 1
            wait_members(fast, 1)
        # What the slow member finally reads: whole messages, in order, then Close 1008.
        seen = 0
        while True:
            frame = slow.recv_frame()
            if frame.opcode == OP_CLOSE:
                break
            assert frame.opcode == OP_TEXT and frame.payload[3:] == payload.encode()
            assert int(frame.payload[:3]) == seen
            seen += 1
        assert struct.unpack("!H", frame.payload[:2])[0] == 1008
        assert frame.payload[2:] == b"channel member too slow"
        assert 0 < seen < 200
        assert slow.read_to_eof() == b""
        assert "(1008): its channel queue passed 65536 bytes" in server.log()
    finally:
        slow.close()


def test_binary_with_a_text_frame_opcode_is_never_sent(room_server):
    with ws_connect(room_server, "/room?name=o") as a:
        wait_members(a, 1)
        a.send(b"\xff\xfe")
        assert a.recv(timeout=5) == b"\xff\xfe"


def test_frames_come_whole_between_the_handlers_own_replies(room_server):
    """Channel messages and the handler's own replies share one socket without interleaving."""
    conn = RawConn(room_server.port)
    try:
        assert conn.handshake("/room?name=w").status == 101
        for n in range(50):
            conn.send_frame(OP_TEXT, b"x" * (n * 97), mask=True)
            conn.send_frame(OP_TEXT, b"!pid", mask=True)
        kinds = []
        for _ in range(100):
            frame = conn.recv_frame()
            assert frame.opcode in (OP_TEXT, OP_BINARY)
            kinds.append("pid" if frame.payload.isdigit() else len(frame.payload))
        assert [k for k in kinds if k != "pid"] == [n * 97 for n in range(50)]
        assert kinds.count("pid") == 50
    finally:
        conn.close()


def test_a_bad_channels_url_stops_the_server_at_start(tmp_path):
    result = run_server_expecting_exit(CHANNEL_HANDLERS, "--channels-url", "http://nowhere")
    assert result.returncode != 0
    assert b"bad --channels-url" in result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the certificate")
def test_members_over_tls_get_whole_messages(server_factory, tmp_path):
    """TLS members: each message encrypted per member, in order with the handler's replies."""
    self_signed_certificate(tmp_path)
    server = server_factory(
        CHANNEL_HANDLERS, "-t", "-k", str(tmp_path / "key.pem"), "-c", str(tmp_path / "cert.pem")
    )
    context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    url = "wss://127.0.0.1:%d" % server.port
    with (
        connect(url + "/room?name=tls", ssl=context, max_size=None) as a,
        connect(url + "/room_async?name=tls", ssl=context, max_size=None) as b,
    ):
        wait_members(a, 2)
        sizes = [0, 1, 125, 126, 65535, 65536, 300000]
        for size in sizes:
            b.send(b"t" * size)
            a.send("!pid")
        for member in (a, b):
            got = [member.recv(timeout=10) for _ in range(len(sizes) * 2 - (member is b) * 7)]
            assert [len(m) for m in got if isinstance(m, bytes)] == sizes


def test_workers_without_redis_warn_that_channels_are_per_process(server_factory):
    server = server_factory(CHANNEL_HANDLERS, "--workers", "2")
    with ws_connect(server, "/room?name=w2") as a:
        wait_members(a, 1)
    server.wait_for_log("channels are in-process and --workers runs several processes")
