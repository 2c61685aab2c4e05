"""Channels through a real Redis (Debian's redis-server on loopback): two servers with two
workers each share one room; Redis killed and restarted mid-test; a publish from a plain
Python process that is not a server.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time

import pytest
from conftest import EXAMPLES_DIR, TESTS_DIR, ws_connect
from nginx_support import NginxPool
from redis_support import redis_server  # noqa: F401 (fixture)
from websockets.sync.client import connect

CHANNEL_HANDLERS = TESTS_DIR / "fixtures" / "channels"


def ask(client, command: str) -> str:
    client.send(command)
    return client.recv(timeout=10)


def wait_subscribed(client, timeout: float = 15.0) -> None:
    """Until the server process behind `client` holds its Redis subscription."""
    deadline = time.monotonic() + timeout
    while not json.loads(ask(client, "!stats")).get("redis_subscribed"):
        assert time.monotonic() < deadline, "no Redis subscription"
        time.sleep(0.05)


def members_on_every_worker(stack, servers, path: str, per_server: int = 2) -> list:
    """Members on each server, on `per_server` of its worker processes when the kernel
    spreads the connections so (it need not: all may land on one worker); the servers
    themselves are always different processes."""
    members = []
    pids: set[str] = set()
    for server in servers:
        server_pids: set[str] = set()
        for _ in range(20):
            client = stack.enter_context(ws_connect(server, path, max_size=None))
            server_pids.add(ask(client, "!pid"))
            members.append(client)
            wait_subscribed(client)
            if len(server_pids) >= per_server:
                break
        pids |= server_pids
    assert len(pids) >= len(servers)
    return members


@pytest.fixture
def two_servers(server_factory, redis_server):  # noqa: F811
    return [
        server_factory(
            CHANNEL_HANDLERS,
            "--workers",
            "2",
            "--channels-url",
            redis_server.url,
            "--log-level",
            "info",
        )
        for _ in range(2)
    ]


def test_a_room_across_two_servers_with_two_workers_each(two_servers):
    with contextlib.ExitStack() as stack:
        paths = ["/room?name=big", "/room_async?name=big"]
        members = members_on_every_worker(stack, two_servers, paths[0])
        members += members_on_every_worker(stack, two_servers, paths[1])
        expected = []
        for index, member in enumerate(members):
            for n in range(10):
                message = f"{index}:{n}" if n % 2 else f"{index}:{n}".encode()
                member.send(message)
                expected.append(message)
        for member in members:
            got = [member.recv(timeout=10) for _ in range(len(expected))]
            assert sorted(got, key=repr) == sorted(expected, key=repr)
            for index in range(len(members)):
                mine = [
                    m
                    for m in got
                    if (m if isinstance(m, str) else m.decode()).startswith(f"{index}:")
                ]
                assert [
                    int((m if isinstance(m, str) else m.decode()).split(":")[1]) for m in mine
                ] == list(range(10))
        with pytest.raises(TimeoutError):
            members[0].recv(timeout=0.5)


def test_redis_killed_and_restarted_mid_test(two_servers, redis_server):  # noqa: F811
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(ws_connect(two_servers[0], "/room?name=outage"))
        b = stack.enter_context(ws_connect(two_servers[1], "/room_async?name=outage"))
        for client in (a, b):
            wait_subscribed(client)
        a.send("before")
        assert a.recv(timeout=10) == "before"
        assert b.recv(timeout=10) == "before"

        redis_server.kill()
        # The servers keep serving: handlers answer, publishes return at once (and are lost).
        for n in range(5):
            a.send(f"lost {n}")
        assert ask(b, "!members") == "1"
        started = time.monotonic()
        deadline = time.monotonic() + 10
        while json.loads(ask(a, "!stats")).get("redis_subscribed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert time.monotonic() - started < 10
        a.send("while down")
        with pytest.raises(TimeoutError):
            b.recv(timeout=0.5)

        redis_server.start()
        for client in (a, b):
            wait_subscribed(client)
        a.send("after")
        assert b.recv(timeout=10) == "after"
        assert a.recv(timeout=10) == "after"
        assert json.loads(ask(a, "!stats"))["redis_lost"] >= 1
        log = two_servers[0].wait_for_log("is back after", timeout=10)
        assert "lost the subscription to Redis" in log
        assert "subscribed to Redis at" in log and "again after" in log


def test_a_plain_python_process_publishes_to_the_room(two_servers, redis_server):  # noqa: F811
    with (
        ws_connect(two_servers[0], "/room?name=cron") as a,
        ws_connect(two_servers[1], "/room_async?name=cron") as b,
    ):
        for client in (a, b):
            wait_subscribed(client)
        script = (
            "import sys\n"
            "from pywebsocket3 import channels\n"
            "channels.configure(sys.argv[1])\n"
            "channels.publish('cron', 'from cron')\n"
            "channels.publish('cron', bytes(range(256)))\n"
            "channels.publish('cron', 'raw', binary=True)\n"
        )
        subprocess.run([sys.executable, "-c", script, redis_server.url], check=True, timeout=30)
        for client in (a, b):
            assert client.recv(timeout=10) == "from cron"
            assert client.recv(timeout=10) == bytes(range(256))
            assert client.recv(timeout=10) == b"raw"


def test_channels_url_from_a_config_file(server_factory, redis_server, tmp_path):  # noqa: F811
    config = tmp_path / "server.conf"
    config.write_text(f"[pywebsocket]\nchannels_url = {redis_server.url}\n")
    by_config = server_factory(CHANNEL_HANDLERS, "--config", str(config))
    by_flag = server_factory(CHANNEL_HANDLERS, "--channels-url", redis_server.url)
    with ws_connect(by_config, "/room?name=conf") as a, ws_connect(by_flag, "/room?name=conf") as b:
        for client in (a, b):
            wait_subscribed(client)
        a.send("via config")
        assert b.recv(timeout=10) == "via config"
        assert a.recv(timeout=10) == "via config"
        assert json.loads(ask(a, "!stats"))["url"] == redis_server.url


def test_the_example_chat_across_two_servers_with_two_workers_behind_nginx(
    server_factory,
    redis_server,  # noqa: F811
    tmp_path,
):
    """examples/chat_wsh.py as deployed in README "Deploying": nginx in front of 2 servers x 2
    workers sharing one Redis; every member gets every message exactly once."""
    servers = [
        server_factory(
            EXAMPLES_DIR,
            "--workers",
            "2",
            "--channels-url",
            redis_server.url,
            "--trusted-proxy",
            "127.0.0.1",
        )
        for _ in range(2)
    ]
    deadline = time.monotonic() + 15
    while redis_server.command("CLIENT", "LIST").count(b" psub=1 ") != 4:
        assert time.monotonic() < deadline, "not every worker holds its Redis subscription"
        time.sleep(0.05)
    with NginxPool(tmp_path) as pool, contextlib.ExitStack() as stack:
        port = pool.websocket_proxy([server.port for server in servers])
        members = [
            stack.enter_context(connect(f"ws://127.0.0.1:{port}/chat", max_size=None))
            for _ in range(8)
        ]
        # Members join in their handlers: probe until every one of them hears the room.
        for probe in range(100):
            members[0].send(f"probe {probe}")
            heard = []
            for member in members:
                with contextlib.suppress(TimeoutError):
                    while member.recv(timeout=0.5) != f"probe {probe}":
                        pass
                    heard.append(member)
            if len(heard) == len(members):
                break
        else:
            raise AssertionError("members never all joined the room")
        for member in members:
            with contextlib.suppress(TimeoutError):
                while True:
                    member.recv(timeout=0.3)
        expected = [f"{i}:{n}" for i in range(len(members)) for n in range(10)]
        for index, member in enumerate(members):
            for n in range(10):
                member.send(f"{index}:{n}")
        for member in members:
            got = [member.recv(timeout=10) for _ in expected]
            assert sorted(got) == sorted(expected)
        with pytest.raises(TimeoutError):
            members[0].recv(timeout=0.5)
    for server in servers:
        assert "Traceback" not in server.log()
