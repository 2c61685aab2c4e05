"""The standalone server as a process: every way of starting it, signals, workers."""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

import pytest
import pywebsocket3
from conftest import self_signed_certificate
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

PACKAGE_DIR = os.path.dirname(os.path.abspath(pywebsocket3.__file__))
SCRIPT_DIR = os.path.dirname(sys.executable)

ECHO = """
def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        request.ws_stream.send_message(message, binary=isinstance(message, bytes))
"""

STUCK = """
import time

def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    request.ws_stream.send_message('in')
    while True:
        time.sleep(0.05)
"""

PID = """
import os

def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    request.ws_stream.send_message(str(os.getpid()))
    request.ws_stream.receive_message()
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def docroot(tmp_path):
    (tmp_path / "echo_wsh.py").write_text(ECHO)
    (tmp_path / "stuck_wsh.py").write_text(STUCK)
    (tmp_path / "pid_wsh.py").write_text(PID)
    (tmp_path / "index.txt").write_text("static")
    return tmp_path


def wait_listening(port, proc, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return time.time()
        except OSError:
            time.sleep(0.02)
    raise AssertionError("server did not listen")


@pytest.fixture
def launch(docroot):
    procs = []

    def start(command, *extra):
        port = free_port()
        argv = command + ["-H", "127.0.0.1", "-p", str(port), "-d", str(docroot), *extra]
        started = time.time()
        proc = subprocess.Popen(
            argv,
            cwd="/",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # teardown can kill --workers children too
        )
        procs.append(proc)
        listening = wait_listening(port, proc)
        return proc, port, listening - started

    yield start
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()


COMMANDS = {
    "module": [sys.executable, "-m", "pywebsocket3.standalone"],
    "path": [sys.executable, os.path.join(PACKAGE_DIR, "standalone.py")],
    "script": [os.path.join(SCRIPT_DIR, "pywebsocket-rs")],
    "old_module": [sys.executable, "-m", "mod_pywebsocket.standalone"],
    "old_path": [
        sys.executable,
        os.path.join(os.path.dirname(PACKAGE_DIR), "mod_pywebsocket", "standalone.py"),
    ],
}


@pytest.mark.parametrize("how", sorted(COMMANDS))
def test_start_echo_and_sigterm(launch, how):
    proc, port, startup = launch(COMMANDS[how])
    assert startup < 1.5
    with connect("ws://127.0.0.1:%d/echo" % port) as ws:
        ws.send("hi")
        assert ws.recv() == "hi"
        # The process started is the server: it has the listening socket, no child.
        assert not _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd.code == 1001
    assert proc.wait(10) == 0


def _children(pid):
    path = "/proc/%d/task/%d/children" % (pid, pid)
    with open(path) as f:
        return f.read().split()


def test_sigint_with_stuck_handler_exits_after_timeout(launch):
    proc, port, _ = launch(COMMANDS["module"], "--shutdown-timeout", "1")
    with connect("ws://127.0.0.1:%d/stuck" % port) as ws:
        assert ws.recv() == "in"
        started = time.time()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert time.time() - started < 4


def test_static_file_and_relative_handler_root(launch):
    proc, port, _ = launch(COMMANDS["module"], "-w", ".")
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /index.txt HTTP/1.0\r\n\r\n")
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.0 200 OK") and data.endswith(b"static")


def test_bad_scan_dir_exits_1(docroot, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pywebsocket3.standalone", "-p", "0", "-d", str(docroot)]
        + ["-s", "/"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 1
    assert "must be a directory under root_dir" in proc.stderr


def test_tls_option_checks_exit_1(docroot):
    for extra in (
        ["-t"],
        ["--tls-client-auth"],
        ["-t", "-k", "k", "-c", "c", "--tls-client-cert-optional"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "pywebsocket3.standalone", "-p", "0", "-d", str(docroot)]
            + extra,
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert proc.returncode == 1, extra
        assert "CRITICAL" in proc.stderr


def test_obsolete_flags_warn(launch):
    proc, port, _ = launch(COMMANDS["module"], "--allow-draft75", "--strict")
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "--allow-draft75 is obsolete and ignored" in err


@pytest.mark.parametrize("workers", ["1", "2"])
def test_signal_while_starting_stops_cleanly(docroot, tmp_path, workers):
    # The handler's import takes a second; SIGTERM lands in it, before the port listens.
    marker = tmp_path / "loading"
    (docroot / "slow_wsh.py").write_text(
        "import pathlib, time\n"
        "pathlib.Path(%r).touch()\n"
        "time.sleep(1)\n"
        "def web_socket_do_extra_handshake(request):\n    pass\n"
        "def web_socket_transfer_data(request):\n    pass\n" % str(marker)
    )
    argv = COMMANDS["module"] + ["-H", "127.0.0.1", "-p", str(free_port()), "-d", str(docroot)]
    proc = subprocess.Popen(
        argv + ["--workers", workers, "--log-level", "info"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 10
        while not marker.exists():
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Signal %d: shutting down" % signal.SIGTERM in err


def _stop_process(pid):
    """SIGSTOP, and wait until every thread is stopped: kill() returns before that, and on a
    VM a thread of the process ran on long enough to accept the next connection itself."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = []
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                stat = open("/proc/%d/task/%s/stat" % (pid, tid)).read()
            except FileNotFoundError:
                continue
            states.append(stat.rsplit(")", 1)[1].split()[0])
        if states and all(state in "tT" for state in states):
            return
        time.sleep(0.005)
    raise AssertionError("process %d did not stop: %r" % (pid, states))


def test_workers_share_the_port(launch):
    proc, port, _ = launch(COMMANDS["module"], "--workers", "2", "--log-level", "info")
    # The kernel may give every connection to one process, so stop the one that
    # answered: the shared listening socket must then be served by the other.
    with connect("ws://127.0.0.1:%d/pid" % port) as ws:
        first = int(ws.recv())
    _stop_process(first)
    try:
        with connect("ws://127.0.0.1:%d/pid" % port, open_timeout=10) as ws:
            second = int(ws.recv())
    finally:
        os.kill(first, signal.SIGCONT)
    pids = {first, second}
    assert len(pids) == 2 and proc.pid in pids
    # Static files are logged by the native side: every process must forward its records.
    for _ in range(30):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /index.txt HTTP/1.0\r\n\r\n")
            while sock.recv(4096):
                pass
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert err.count('"GET /index.txt HTTP/1.0" 200') == 30, err
    for pid in pids - {proc.pid}:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_log_file_thread_monitor_and_handler_encoding(launch, docroot):
    (docroot / "latin_wsh.py").write_bytes(
        b"TEXT = '\xe9'\n"
        b"def web_socket_do_extra_handshake(request):\n    pass\n"
        b"def web_socket_transfer_data(request):\n    request.ws_stream.send_message(TEXT)\n"
    )
    proc, port, _ = launch(
        COMMANDS["module"],
        "--log-file",
        "server.log",
        "--log-level",
        "info",
        "--thread-monitor-interval-in-sec",
        "1",
        "--handler-encoding",
        "latin-1",
    )
    with connect("ws://127.0.0.1:%d/latin" % port) as ws:
        assert ws.recv() == "\xe9"
    time.sleep(1.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    log = (docroot / "server.log").read_text()  # relative to the document root
    assert '"GET /latin HTTP/1.1" 101 -' in log
    assert "active threads: " in log and "ThreadMonitor" in log
    assert re.search(r"^\[[0-9-]+ [0-9:,]+\] \[INFO\] pywebsocket3\.", log, re.M)


HTTPS = """
def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    request.ws_stream.send_message(repr(request.is_https()))
"""


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the certificate")
def test_tls_with_paths_relative_to_document_root(launch, docroot):
    (docroot / "https_wsh.py").write_text(HTTPS)
    self_signed_certificate(docroot)
    proc, port, _ = launch(COMMANDS["module"], "-t", "-k", "key.pem", "-c", "cert.pem")
    context = ssl.create_default_context(cafile=str(docroot / "cert.pem"))
    with connect("wss://127.0.0.1:%d/https" % port, ssl=context) as ws:
        assert ws.recv() == "True"
    # Plain HTTP on a TLS port gets nothing useful.
    with pytest.raises((InvalidHandshake, OSError, TimeoutError)):
        with connect("ws://127.0.0.1:%d/https" % port, open_timeout=2) as ws:
            ws.recv(timeout=2)


def test_workers_stop_when_the_parent_is_killed(launch):
    proc, port, _ = launch(COMMANDS["module"], "--workers", "2")
    deadline = time.time() + 5
    while not _children(proc.pid) and time.time() < deadline:
        time.sleep(0.05)
    (child,) = [int(pid) for pid in _children(proc.pid)]
    proc.kill()
    proc.wait(5)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError("worker %d outlived its parent" % child)
