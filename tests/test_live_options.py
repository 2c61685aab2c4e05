"""Options changed on the options object after WebSocketServer() apply to the very next request.

pywebsocket read its options object on every request. The server runs in this process on an
ephemeral port with a poll interval of an hour, so nothing here can pass by waiting for
serve_forever's poll; each check opens its connection right after the assignment.
"""

import argparse
import asyncio
import base64
import copy
import optparse
import pickle
import threading
import time
import types

import pytest
from conftest import (
    FIXTURE_HANDLERS,
    OP_TEXT,
    TESTS_DIR,
    RawConn,
    open_ws,
    stop_serving,
    upgrade_request,
)
from pywebsocket3 import _live_options, standalone

ASYNC_HANDLERS = TESTS_DIR / "fixtures" / "async_handlers"
MODES = ["threads", "greenlets", "async"]
ROUNDS = 40


def _credential(user_pass):
    return "Basic " + base64.b64encode(user_pass.encode()).decode()


def _options(mode):
    handlers = ASYNC_HANDLERS if mode == "async" else FIXTURE_HANDLERS
    argv = ["-H", "127.0.0.1", "-p", "0", "-w", str(handlers), "-d", str(handlers)]
    if mode == "greenlets":
        argv.append("--greenlets")
    options, _ = standalone._parse_args_and_config(argv)
    options.cgi_directories = []
    options.is_executable_method = None
    options.shutdown_timeout = 1.0
    return options


class Serving:
    """WebSocketServer on a thread; its poll is too slow to be what applies a change."""

    def __init__(self, options, poll_interval=3600.0):
        self.options = options
        self.server = standalone.WebSocketServer(options)
        self.port = self.server.server_port
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": poll_interval}
        )
        self.thread.start()
        # serve_forever has started accepting once a connection is answered.
        with RawConn(self.port) as conn:
            conn.send(b"GET /missing-file HTTP/1.0\r\n\r\n")
            assert conn.read_response().status in (401, 404)

    def stop(self):
        stop_serving(self.server, self.thread)


@pytest.fixture
def serve():
    running = []

    def start(options, **kwargs):
        serving = Serving(options, **kwargs)
        running.append(serving)
        return serving

    yield start
    for serving in running:
        serving.stop()


def status_of(port, authorization=None, path="/echo"):
    extra = [("Authorization", authorization)] if authorization else None
    with RawConn(port) as conn:
        conn.send(upgrade_request(path, extra=extra))
        return conn.read_response().status


def echoes(port, authorization=None, text=b"live"):
    extra = [("Authorization", authorization)] if authorization else None
    conn = open_ws(port, extra=extra)
    with conn:
        conn.send_frame(OP_TEXT, text)
        return conn.recv_frame().payload == text


@pytest.mark.parametrize("mode", MODES)
def test_basic_auth_switches_with_no_window(serve, mode):
    options = _options(mode)
    s = serve(options)
    good = _credential("test:test")
    for _ in range(ROUNDS):
        options.use_basic_auth = True
        assert status_of(s.port) == 401
        assert echoes(s.port, good)
        options.use_basic_auth = False
        assert echoes(s.port)


@pytest.mark.parametrize("mode", MODES)
def test_credential_change_applies_at_once(serve, mode):
    options = _options(mode)
    options.use_basic_auth = True
    s = serve(options)
    for index in range(ROUNDS):
        new = _credential("user%d:pw" % index)
        old = options.basic_auth_credential
        options.basic_auth_credential = new
        assert status_of(s.port, _credential(old) if ":" in old else old) == 401
        assert echoes(s.port, new)


def test_change_while_the_head_arrives(serve):
    """Upstream read the options once the head was parsed, not when the TCP connection came."""
    options = _options("threads")
    s = serve(options)
    request = upgrade_request("/echo")
    for turn_on in (True, False, True):
        with RawConn(s.port) as conn:
            conn.send(request[:10])
            time.sleep(0.05)  # the server has accepted and is reading the head
            options.use_basic_auth = turn_on
            conn.send(request[10:])
            assert conn.read_response().status == (401 if turn_on else 101)


def test_validation_host_and_max_connections_at_once(serve):
    options = _options("threads")
    s = serve(options)
    absolute = "ws://example.test:%d/echo" % s.port
    for _ in range(10):
        options.validation_host = "other.test"
        assert status_of(s.port, path=absolute) == 404  # not routed to the handler
        options.validation_host = "example.test"
        assert status_of(s.port, path=absolute) == 101
    held = open_ws(s.port)
    with held:
        for _ in range(10):
            options.max_connections = 1
            assert status_of(s.port) == 503
            options.max_connections = 0
            assert echoes(s.port)


@pytest.mark.parametrize("mode", MODES)
def test_max_message_size_at_once(serve, mode):
    options = _options(mode)
    s = serve(options)
    for _ in range(10):
        options.max_message_size = 8
        with open_ws(s.port) as conn:
            conn.send_frame(OP_TEXT, b"123456789")
            assert conn.recv_close()[0] == 1009
        options.max_message_size = 1024
        assert echoes(s.port, text=b"123456789")


class PlainOptions:
    """An options class of an embedder's own, as Chromium's testserver builds."""


class SlottedOptions:
    __slots__ = ("__dict__",)


def _copy_to(target, options):
    for name, value in vars(options).items():
        setattr(target, name, value)
    return target


@pytest.mark.parametrize(
    "kind",
    [
        lambda: argparse.Namespace(),
        lambda: optparse.Values(),
        PlainOptions,
        SlottedOptions,
    ],
    ids=["argparse", "optparse", "plain", "slotted"],
)
def test_every_kind_of_options_object(serve, kind):
    options = _copy_to(kind(), _options("threads"))
    cls = type(options)
    s = serve(options)
    # The swapped class keeps the embedder's name, module, isinstance and copies.
    live = type(options)
    assert isinstance(options, cls)
    assert (live.__name__, live.__module__, live.__qualname__) == (
        cls.__name__,
        cls.__module__,
        cls.__qualname__,
    )
    assert type(copy.copy(options)) is cls
    prefix = {argparse.Namespace: "Namespace(", optparse.Values: "<Values at "}.get(cls)
    if prefix:
        assert repr(options).startswith(prefix)
    for _ in range(10):
        options.use_basic_auth = True
        assert status_of(s.port) == 401
        del options.use_basic_auth  # a deletion counts too: the default is off
        assert echoes(s.port)
    s.stop()
    assert type(options) is cls  # server_close gives the class back


def test_unswappable_options_are_polled(serve):
    """types.SimpleNamespace is a C type: its class cannot change, so the poll applies."""
    options = _copy_to(types.SimpleNamespace(), _options("threads"))
    s = serve(options, poll_interval=0.05)
    assert type(options) is types.SimpleNamespace
    options.use_basic_auth = True
    deadline = time.monotonic() + 5
    while status_of(s.port) != 401:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_two_servers_share_one_options_object(serve):
    options = _options("threads")
    first = serve(options)
    second = serve(options)
    for _ in range(10):
        options.use_basic_auth = True
        assert status_of(first.port) == 401 and status_of(second.port) == 401
        options.use_basic_auth = False
        assert echoes(first.port) and echoes(second.port)


def test_bad_value_is_logged_not_raised(serve, caplog):
    options = _options("threads")
    s = serve(options)
    options.max_connections = "many"
    assert "Ignoring changed options" in caplog.text
    options.max_connections = 0
    options.use_basic_auth = True
    assert status_of(s.port) == 401


def test_serve_on_the_callers_loop():
    """pywebsocket3.serve() has no poll at all: the assignment alone must apply."""
    import pywebsocket3

    async def scenario():
        options = _options("async")
        async with await pywebsocket3.serve(options) as server:
            loop = asyncio.get_running_loop()
            for _ in range(10):
                options.use_basic_auth = True
                assert await loop.run_in_executor(None, status_of, server.port) == 401
                options.use_basic_auth = False
                assert await loop.run_in_executor(None, echoes, server.port)

    asyncio.run(scenario())


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_watched_objects_pickle_as_their_own_class(protocol):
    class Watcher:
        def changed(self):
            self.calls = getattr(self, "calls", 0) + 1

    watcher = Watcher()
    for options in (argparse.Namespace(a=1), optparse.Values({"a": 1})):
        assert _live_options.watch(options, watcher.changed)
        options.b = 2
        restored = pickle.loads(pickle.dumps(options, protocol))
        assert type(restored) is type(options).__mro__[1]
        assert (restored.a, restored.b) == (1, 2)
        _live_options.unwatch(options, watcher.changed)
    assert watcher.calls == 2
