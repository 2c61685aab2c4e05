"""Async handler files (``async def`` hooks) on the process's asyncio loop, next to blocking
ones: what only this mode has (tasks, other awaits, cancellation, the embedding coroutine
API). The protocol, handshake, limits and examples suites also run in this mode
(``PYWEBSOCKET_TEST_HANDLER_MODE=async``, see async_twins.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import (
    HOST,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    TESTS_DIR,
    close_payload,
    open_ws,
    ws_connect,
)
from websockets.exceptions import ConnectionClosed

ASYNC_HANDLERS = TESTS_DIR / "fixtures" / "async_handlers"


@pytest.fixture(scope="module")
def async_server(tmp_path_factory):
    from conftest import start_server

    server = start_server(ASYNC_HANDLERS, log_dir=tmp_path_factory.mktemp("async"))
    yield server
    server.stop()
    assert server.proc.poll() is not None


def test_echo_text_binary_large_and_deflate(async_server):
    messages = ["hi", b"\x00\xff", "é" * 40000, bytes(range(256)) * 4096]
    for compression in (None, "deflate"):
        with ws_connect(async_server, "/echo", compression=compression, max_size=None) as ws:
            for message in messages:
                ws.send(message)
                assert ws.recv() == message


def test_handler_runs_as_a_task_with_contextvars_and_timeouts(async_server):
    with ws_connect(async_server, "/context") as ws:
        report = json.loads(ws.recv())
        ws.send("after the timeout")
        assert ws.recv() == "next:after the timeout"
    assert report == {
        "task": True,
        "same_task": True,
        "contextvar": "/context",
        "timed_out": True,
        "iteration_timed_out": True,
        "still_current": True,
        "thread": "pywebsocket3-asyncio",
        "stream": "AsyncStream",
    }


def test_blocking_handler_beside_async_ones_keeps_its_thread(async_server):
    with ws_connect(async_server, "/mixed_blocking") as ws:
        ws.send("which thread")
        assert ws.recv() != "pywebsocket3-asyncio"


def test_500_connections_each_sleeping_one_second_answer_together(async_server):
    conns = [open_ws(async_server.port, "/sleep_echo") for _ in range(500)]
    try:
        started = time.monotonic()
        for index, conn in enumerate(conns):
            conn.send_frame(OP_TEXT, b"%d" % index)
        for index, conn in enumerate(conns):
            assert conn.recv_frame().payload == b"%d" % index
        elapsed = time.monotonic() - started
        # Sequential sleeps would take 500 s; one loop overlaps them all.
        assert elapsed < 4.0, elapsed
    finally:
        for conn in conns:
            conn.close()


def test_raw_read_and_write_are_awaitable_and_exact(async_server):
    with open_ws(async_server.port, "/raw") as conn:
        conn.send(b"ABCDE")
        assert conn.recv_frame().payload == b"raw:ABCDE"
        conn.send_frame(OP_TEXT, b"framed")
        assert conn.recv_frame().payload == b"frame:framed"


def test_sends_from_a_thread_and_another_task_never_interleave(async_server):
    count = 200
    with ws_connect(async_server, "/threadsafe") as ws:
        ws.send(str(count))
        texts, blobs = [], []
        while True:
            message = ws.recv(timeout=10)
            if message == "done":
                break
            (texts if isinstance(message, str) else blobs).append(message)
    assert texts == ["thread-%d" % i for i in range(count)]
    assert blobs == [b"task-%d" % i + b"." * 3000 for i in range(count)]


def _status(server, key):
    with ws_connect(server, "/lifecycle?status=" + key) as ws:
        return ws.recv()


def _wait_status(server, key, predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        status = _status(server, key)
        if predicate(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_a_client_that_resets_ends_its_task(async_server):
    key = "reset-%d" % os.getpid()
    conn = open_ws(async_server.port, "/lifecycle?hold=" + key)
    assert conn.recv_frame().payload == b"held"
    assert _status(async_server, key) == "running"
    # RST instead of FIN: SO_LINGER 0.
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.close()
    status = _wait_status(async_server, key, lambda s: s != "running")
    assert status == "ended:ConnectionTerminatedException"


def test_a_closing_client_ends_its_task_normally(async_server):
    key = "close-%d" % os.getpid()
    with open_ws(async_server.port, "/lifecycle?hold=" + key) as conn:
        assert conn.recv_frame().payload == b"held"
        assert conn.close_handshake(1000)[0] == 1000
    assert _wait_status(async_server, key, lambda s: s != "running") == "closed"


@pytest.mark.parametrize("what", ["value", "abort"])
def test_raise_in_the_extra_handshake(async_server, what):
    from conftest import RawConn

    with RawConn(async_server.port) as conn:
        path = "/raise_in_hook?in=handshake&what=" + what
        if what == "value":
            assert conn.handshake(path).status == 403
        else:
            # Dropped without an answer.
            with pytest.raises(EOFError):
                conn.handshake(path)


def test_raise_in_transfer_data(async_server):
    with open_ws(async_server.port, "/raise_in_hook?in=transfer&what=value") as conn:
        assert conn.recv_frame().payload == b"started"
        conn.expect_eof()
    with open_ws(async_server.port, "/raise_in_hook?in=transfer&what=abort") as conn:
        assert conn.recv_frame().payload == b"started"
        conn.expect_eof()
    assert "raised in transfer" in async_server.log()


def test_async_passive_closing_hook_answers_and_can_abort(async_server):
    with open_ws(async_server.port, "/raise_in_hook?in=none&what=value") as conn:
        assert conn.recv_frame().payload == b"started"
        code, reason = conn.close_handshake(1000)
        assert (code, reason) == (4001, b"passive ok")
    with open_ws(async_server.port, "/raise_in_hook?in=passive&what=abort") as conn:
        assert conn.recv_frame().payload == b"started"
        conn.send_frame(OP_CLOSE, close_payload(1000))
        conn.expect_eof()


def test_ping_is_answered_while_the_task_waits(async_server):
    with open_ws(async_server.port, "/echo") as conn:
        conn.send_frame(OP_PING, b"are you there")
        frame = conn.recv_frame()
        assert (frame.opcode, frame.payload) == (OP_PONG, b"are you there")
        conn.send_frame(OP_TEXT, b"still")
        assert conn.recv_frame().payload == b"still"


def test_sigterm_with_200_async_connections(server_factory):
    server = server_factory(ASYNC_HANDLERS, "--shutdown-timeout", "3")
    conns = [open_ws(server.port, "/echo") for _ in range(200)]
    try:
        for conn in conns[:20]:
            conn.send_frame(OP_TEXT, b"before")
            assert conn.recv_frame().payload == b"before"
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        for conn in conns:
            assert conn.recv_close()[0] == 1001
            conn.send_frame(OP_CLOSE, close_payload(1001))
        assert server.proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 6.0
    finally:
        for conn in conns:
            conn.close()


def test_tasks_still_waiting_after_the_shutdown_timeout_are_cancelled(server_factory):
    server = server_factory(ASYNC_HANDLERS, "--shutdown-timeout", "1")
    with open_ws(server.port, "/sleep_echo") as conn:
        conn.send_frame(OP_TEXT, b"x")
        time.sleep(0.2)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert conn.recv_close()[0] == 1001
        assert server.proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 4.0


def test_tls_connections_run_async_handlers_too(server_factory, tmp_path):
    import shutil
    import ssl
    import subprocess

    from websockets.sync.client import connect

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-days", "2"],
        check=True,
        capture_output=True,
    )
    server = server_factory(ASYNC_HANDLERS, "-t", "-c", str(cert), "-k", str(key))
    context = ssl.create_default_context(cafile=str(cert))
    url = "wss://%s:%d/echo" % (HOST, server.port)
    with connect(url, ssl=context, compression=None, max_size=None) as ws:
        for message in ["over tls", b"\x01" * 100000]:
            ws.send(message)
            assert ws.recv() == message
    with connect("wss://%s:%d/context" % (HOST, server.port), ssl=context) as ws:
        report = json.loads(ws.recv())
        ws.send("y")
        assert ws.recv() == "next:y"
    assert report["stream"] == "AsyncStream" and report["task"] and report["timed_out"]


def test_embedding_serves_on_a_loop_the_caller_owns(tmp_path):
    import pywebsocket3
    from pywebsocket3 import standalone
    from websockets.asyncio.client import connect

    async def main():
        options, _ = standalone._parse_args_and_config(
            ["-H", HOST, "-p", "0", "-w", str(ASYNC_HANDLERS), "-d", str(ASYNC_HANDLERS)]
        )
        async with await pywebsocket3.serve(options) as server:
            url = "ws://%s:%d/context" % (HOST, server.port)
            async with connect(url, compression=None) as ws:
                report = json.loads(await ws.recv())
                await ws.send("x")
                assert await ws.recv() == "next:x"
            # Served on this very loop, on this thread.
            assert report["thread"] == threading.current_thread().name
            async with connect("ws://%s:%d/echo" % (HOST, server.port)) as ws:
                await ws.send("same loop")
                assert await ws.recv() == "same loop"
        # Stopped: nothing listens any more.
        with pytest.raises(OSError):
            socket.create_connection((HOST, server.port), timeout=1).close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_pytest_fixture_serves_async_handlers(pywebsocket_server):
    server = pywebsocket_server(str(ASYNC_HANDLERS))
    from websockets.sync.client import connect

    with connect(server.url + "/echo", compression=None) as ws:
        ws.send("fixture")
        assert ws.recv() == "fixture"


def test_missing_uvloop_is_a_clear_error(tmp_path):
    import subprocess

    try:
        import uvloop  # noqa: F401

        pytest.skip("uvloop is installed")
    except ImportError:
        pass
    args = [sys.executable, "-m", "pywebsocket3.standalone", "-H", HOST, "-p", "0"]
    args += ["-d", str(ASYNC_HANDLERS), "--event-loop", "uvloop"]
    result = subprocess.run(args, capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    assert b"uvloop" in result.stderr + result.stdout


def test_example_echo_async(examples_server):
    with ws_connect(examples_server, "/echo_async") as ws:
        for message in ["hello", b"\x00\x01\x02", "Goodbye"]:
            ws.send(message)
            assert ws.recv() == message
        # "Goodbye" ends the handler: the server closes with 1000.
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 1000


def test_example_clock_async_ticks(examples_server):
    from datetime import datetime

    with ws_connect(examples_server, "/clock_async") as ws:
        first = datetime.fromisoformat(ws.recv(timeout=5))
        second = datetime.fromisoformat(ws.recv(timeout=5))
        assert 0.5 < (second - first).total_seconds() < 2.0


def test_example_queue_async_passes_messages_between_connections(examples_server):
    with ws_connect(examples_server, "/queue_async?role=take") as taker:
        with ws_connect(examples_server, "/queue_async?role=feed") as feeder:
            for message in ["one", b"two", "three"]:
                feeder.send(message)
            assert [taker.recv(timeout=5) for _ in range(3)] == ["one", b"two", "three"]


def test_example_chat_async_serves_everyone_while_a_member_never_reads(examples_server):
    port = examples_server.port
    slow = open_ws(port, "/chat_async")
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    readers = [ws_connect(examples_server, "/chat_async", max_size=None) for _ in range(2)]
    for reader in readers:
        reader.__enter__()
    try:
        text = "m" * 32768
        count = 400
        received = [0, 0]

        def read_all(index):
            while received[index] < count:
                assert readers[index].recv(timeout=20) == text
                received[index] += 1

        threads = [threading.Thread(target=read_all, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for sent in range(1, count + 1):
            readers[0].send(text)
            # Paced so the readers' queues never fill: only the silent member falls behind.
            deadline = time.monotonic() + 20
            while min(received) < sent - 16 and time.monotonic() < deadline:
                time.sleep(0.001)
        for thread in threads:
            thread.join(30)
        assert received == [count, count]
    finally:
        slow.close()
        for reader in readers:
            reader.close()


def test_examples_dir_has_every_async_example():
    examples = Path(__file__).resolve().parent.parent / "examples"
    for name in ("echo_async", "chat_async", "clock_async", "queue_async"):
        assert (examples / (name + "_wsh.py")).is_file(), name


def test_each_worker_process_runs_its_own_loop(server_factory):
    server = server_factory(ASYNC_HANDLERS, "--workers", "2")
    for _ in range(12):
        with ws_connect(server, "/context") as ws:
            report = json.loads(ws.recv())
            ws.send("w")
            assert ws.recv() == "next:w"
            assert report["thread"] == "pywebsocket3-asyncio" and report["task"]
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=15) == 0


def test_kept_bridges_hold_nothing_of_their_last_job():
    # Bridges (the greenlets that run engine code for tasks) are kept for the next job: what
    # a job returned or raised must not stay alive with them (a request, a traceback).
    import gc
    import weakref

    from pywebsocket3 import _aio

    class Payload:
        pass

    refs = []

    def returns():
        payload = Payload()
        refs.append(weakref.ref(payload))
        return payload

    def raises():
        payload = Payload()
        refs.append(weakref.ref(payload))
        raise ValueError(payload)

    async def main():
        assert isinstance(await _aio.drive(returns), Payload)
        with pytest.raises(ValueError):
            await _aio.drive(raises)
        assert _aio._idle_bridges()
        gc.collect()
        return [ref() for ref in refs]

    assert asyncio.run(main()) == [None, None]


def test_the_native_receive_takes_throw_as_generators_do_and_is_awaited_once():
    # What an exception thrown into a waiting receive becomes (a task passes one instance;
    # other drivers may pass type, value and traceback), and a finished receive cannot be
    # resumed, as a finished coroutine cannot.
    from pywebsocket3 import _native

    def thrown(*args):
        receive = _native.Receive(object())
        with pytest.raises(BaseException) as raised:
            receive.throw(*args)
        with pytest.raises(RuntimeError, match="cannot reuse already awaited receive"):
            receive.send(None)
        return raised.value

    cancel = asyncio.CancelledError("cancelled while waiting")
    assert thrown(cancel) is cancel
    assert repr(thrown(ValueError, "given")) == "ValueError('given')"
    instance = KeyError("as is")
    assert thrown(KeyError, instance) is instance
    try:
        raise OSError("with its traceback")
    except OSError as error:
        traceback = error.__traceback__
    chain, link = [], thrown(OSError, OSError("x"), traceback).__traceback__
    while link is not None:
        chain.append(link)
        link = link.tb_next
    assert traceback in chain
