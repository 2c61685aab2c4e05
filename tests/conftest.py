"""Shared fixtures: the real server as a subprocess, raw-socket HTTP and frame helpers.

The frame codec here is written independently of the product so that a bug in the product's
codec cannot hide itself. Test modules import the helpers with ``from conftest import ...``.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
EXAMPLES_DIR = REPO_ROOT / "examples"
FIXTURE_HANDLERS = TESTS_DIR / "fixtures" / "handlers"
FIXTURE_BROKEN = TESTS_DIR / "fixtures" / "broken"
CACHE_DIR = TESTS_DIR / ".cache"

# "async": the examples and fixture handlers that have async twins run as `async def`
# handlers (tests/async_twins.py), so the same tests check the asyncio mode.
HANDLER_MODE = os.environ.get("PYWEBSOCKET_TEST_HANDLER_MODE", "blocking")
if HANDLER_MODE == "async":
    import async_twins

    _TWIN_ROOT = Path(tempfile.mkdtemp(prefix="pywebsocket-async-twins-"))
    EXAMPLES_DIR = async_twins.overlay(EXAMPLES_DIR, _TWIN_ROOT / "examples", async_twins.EXAMPLES)
    FIXTURE_HANDLERS = async_twins.overlay(
        FIXTURE_HANDLERS, _TWIN_ROOT / "handlers", async_twins.FIXTURES
    )

HOST = "127.0.0.1"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


# ---------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class ServerProcess:
    """A running ``python -m pywebsocket3.standalone`` child bound to 127.0.0.1."""

    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path, args: list[str]):
        self.proc = proc
        self.host = HOST
        self.port = port
        self.log_path = log_path
        self.args = args

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str = "/echo") -> str:
        return f"ws://{self.host}:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = self.log()
            if text in content:
                return content
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in server log:\n{self.log()}")

    def proc_status(self) -> dict[str, str]:
        """Fields of /proc/PID/status (Threads, VmRSS, ...)."""
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            fields[name] = value.strip()
        return fields

    def threads(self) -> int:
        return int(self.proc_status()["Threads"])

    def rss_kib(self) -> int:
        return int(self.proc_status()["VmRSS"].split()[0])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the server, then kill it if it lingers; return its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        assert self.proc.poll() is not None, "server process did not exit"
        return self.proc.returncode


def _wait_accepting(proc: subprocess.Popen, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def start_server(
    docroot: Path | str,
    *extra: str,
    log_dir: Path,
    handlers: Path | str | None = None,
    python: str = sys.executable,
    env: dict | None = None,
    startup_timeout: float = 20.0,
    preexec_fn=None,
) -> ServerProcess:
    """Start the real server on a free port; retry with another port if it was taken."""
    last_log = ""
    for attempt in range(5):
        port = free_port()
        args = [python, "-m", "pywebsocket3.standalone", "-H", HOST, "-p", str(port)]
        args += ["-d", str(docroot)]
        if handlers is not None:
            args += ["-w", str(handlers)]
        args += [a.replace("{port}", str(port)) for a in extra]
        # e.g. "--greenlets": run a module's tests under another server mode.
        args += os.environ.get("PYWEBSOCKET_TEST_SERVER_ARGS", "").split()
        log_path = log_dir / f"server-{port}-{attempt}.log"
        log_file = open(log_path, "wb")
        proc = subprocess.Popen(
            args,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=preexec_fn,
        )
        log_file.close()
        if _wait_accepting(proc, port, startup_timeout):
            return ServerProcess(proc, port, log_path, args)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        last_log = log_path.read_text(errors="replace")
        if "in use" not in last_log.lower():
            break
    raise RuntimeError(f"server did not start: {args}\n{last_log}")


def run_server_expecting_exit(
    docroot: Path | str, *extra: str, timeout: float = 20.0
) -> subprocess.CompletedProcess:
    """Run the server with arguments that must make it exit (bad configuration)."""
    args = [sys.executable, "-m", "pywebsocket3.standalone", "-H", HOST, "-p", str(free_port())]
    args += ["-d", str(docroot), *extra]
    return subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def stop_serving(server, thread: threading.Thread) -> None:
    """Stop an in-process WebSocketServer whose serve_forever runs on ``thread``."""
    server.shutdown()
    thread.join(15)
    assert not thread.is_alive()
    server.server_close()


@pytest.fixture
def server_factory(tmp_path_factory):
    """Start servers on demand; every one is stopped (SIGTERM, then kill) at teardown."""
    started: list[ServerProcess] = []
    log_dir = tmp_path_factory.mktemp("serverlogs")

    def factory(docroot=EXAMPLES_DIR, *extra, **kwargs) -> ServerProcess:
        server = start_server(docroot, *extra, log_dir=log_dir, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()
        assert server.proc.poll() is not None


@pytest.fixture(scope="module")
def examples_server(tmp_path_factory):
    """One server per test module on the examples directory (handlers and document root)."""
    server = start_server(EXAMPLES_DIR, log_dir=tmp_path_factory.mktemp("examples"))
    yield server
    server.stop()
    assert server.proc.poll() is not None


@pytest.fixture(scope="module")
def fixtures_server(tmp_path_factory):
    """One server per test module on tests/fixtures/handlers."""
    server = start_server(FIXTURE_HANDLERS, log_dir=tmp_path_factory.mktemp("fixtures"))
    yield server
    server.stop()
    assert server.proc.poll() is not None


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """``key.pem`` and ``cert.pem`` (EC P-256, for localhost and 127.0.0.1) in ``directory``."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-subj", "/CN=localhost"]
        + ["-days", "2", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        cwd=str(directory),
        check=True,
        capture_output=True,
    )
    return directory / "key.pem", directory / "cert.pem"


# ------------------------------------------------------------------------- raw HTTP side


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def upgrade_request(
    path: str = "/echo",
    host: str = "127.0.0.1",
    key: str | None = SAMPLE_KEY,
    version: str | None = "13",
    extra: list[tuple[str, str]] | None = None,
    method: str = "GET",
    http_version: str = "HTTP/1.1",
    upgrade: str | None = "websocket",
    connection: str | None = "Upgrade",
    origin: str | None = None,
) -> bytes:
    """The bytes of an opening handshake; pass None to leave a header out."""
    lines = [f"{method} {path} {http_version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    if origin is not None:
        lines.append(f"Origin: {origin}")
    for name, value in extra or []:
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class HttpResponse:
    def __init__(self, head: bytes, body: bytes):
        self.head = head
        self.body = body
        text = head.decode("iso-8859-1")
        status_line, *header_lines = text.split("\r\n")[:-2]
        self.status_line = status_line
        parts = status_line.split(" ", 2)
        self.version = parts[0]
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        self.headers = [tuple(h.split(": ", 1)) for h in header_lines]

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def __repr__(self) -> str:
        return f"HttpResponse({self.head!r}, body={self.body[:200]!r})"


class RawConn:
    """A TCP connection with a receive buffer, for handshakes and frames byte by byte."""

    def __init__(self, port: int, host: str = HOST, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError(f"EOF after {len(self.buf)} of {n} bytes: {self.buf[:64]!r}")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_until(self, marker: bytes, limit: int = 1 << 20) -> bytes:
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise AssertionError("marker not found within limit")
            if not self._fill():
                raise EOFError(f"EOF before {marker!r}: {self.buf[:200]!r}")
        index = self.buf.index(marker) + len(marker)
        data, self.buf = self.buf[:index], self.buf[index:]
        return data

    def read_to_eof(self) -> bytes:
        while self._fill():
            pass
        data, self.buf = self.buf, b""
        return data

    def read_response(self, with_body: bool = True) -> HttpResponse:
        """Read an HTTP response head; the body is read up to EOF (one request per conn)."""
        head = self.read_until(b"\r\n\r\n")
        response = HttpResponse(head, b"")
        if with_body and response.status != 101:
            response.body = self.read_to_eof()
        return response

    def handshake(self, path: str = "/echo", **kwargs) -> HttpResponse:
        key = kwargs.setdefault("key", new_key())
        self.send(upgrade_request(path, **kwargs))
        response = self.read_response()
        if response.status == 101:
            assert response.header("Sec-WebSocket-Accept") == accept_for(key)
        return response

    def expect_eof(self, timeout: float = 5.0) -> None:
        """The peer closed TCP (EOF or reset) with no more data."""
        self.sock.settimeout(timeout)
        assert self.buf == b"", f"unexpected buffered data {self.buf[:100]!r}"
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return
        assert data == b"", f"expected EOF, got {data[:100]!r}"

    def assert_no_data(self, wait: float = 0.5) -> None:
        """Nothing arrives (and the connection stays open) for ``wait`` seconds."""
        assert self.buf == b""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(1)
        except (socket.timeout, TimeoutError):
            return
        finally:
            self.sock.settimeout(10.0)
        raise AssertionError(f"expected silence, got {data!r}")

    # frames
    def send_frame(self, opcode: int, payload: bytes = b"", **kwargs) -> None:
        self.send(build_frame(opcode, payload, **kwargs))

    def recv_frame(self) -> Frame:
        first, second = self.read_exact(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.read_exact(8))
        key = self.read_exact(4) if second & 0x80 else None
        payload = self.read_exact(length)
        if key:
            payload = xor_mask(key, payload)
        return Frame(first >> 7, (first >> 4) & 7, first & 0xF, key is not None, payload)

    def recv_close(self) -> tuple[int | None, bytes]:
        """Skip nothing: the next frame must be a Close; returns (code, reason bytes)."""
        frame = self.recv_frame()
        assert frame.opcode == OP_CLOSE, f"expected Close, got {frame}"
        assert not frame.masked and frame.fin == 1
        if not frame.payload:
            return None, b""
        return struct.unpack("!H", frame.payload[:2])[0], frame.payload[2:]

    def close_handshake(self, code: int = 1000) -> tuple[int | None, bytes]:
        self.send_frame(OP_CLOSE, struct.pack("!H", code))
        return self.recv_close()


class Frame:
    def __init__(self, fin: int, rsv: int, opcode: int, masked: bool, payload: bytes):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = (
            fin,
            rsv,
            opcode,
            masked,
            payload,
        )

    def __repr__(self) -> str:
        return (
            f"Frame(fin={self.fin}, rsv={self.rsv}, opcode={self.opcode:#x}, "
            f"masked={self.masked}, payload={self.payload[:80]!r} len={len(self.payload)})"
        )


def xor_mask(key: bytes, data: bytes) -> bytes:
    if not data:
        return b""
    repeated = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(data), "big"
    )


def build_frame(
    opcode: int,
    payload: bytes = b"",
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    key: bytes | None = None,
    length: int | None = None,
    length_form: int | None = None,
) -> bytes:
    """A frame as a client sends it. ``length`` lies about the payload length and
    ``length_form`` (7, 16 or 64) forces a (possibly non-minimal) length encoding."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    form = length_form or (7 if n < 126 else 16 if n < 65536 else 64)
    mask_bit = 0x80 if mask else 0
    if form == 7:
        head = struct.pack("!BB", first, mask_bit | n)
    elif form == 16:
        head = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not mask:
        return head + payload
    key = key if key is not None else os.urandom(4)
    return head + key + xor_mask(key, payload)


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


def open_ws(port: int, path: str = "/echo", **kwargs) -> RawConn:
    """A raw connection that has completed the opening handshake (asserts 101)."""
    conn = RawConn(port)
    response = conn.handshake(path, **kwargs)
    assert response.status == 101, response
    conn.response = response
    return conn


def echo_each(conns: list, tag: bytes = b"") -> None:
    """Sends one message on every connection first, then checks every echo in order."""
    for index, conn in enumerate(conns):
        conn.send_frame(OP_TEXT, b"%s%d" % (tag, index))
    for index, conn in enumerate(conns):
        assert conn.recv_frame().payload == b"%s%d" % (tag, index)


def assert_refused_or_closed(port: int) -> None:
    try:
        with socket.create_connection((HOST, port), timeout=2):
            pass
    except OSError as exc:
        assert exc.errno in (errno.ECONNREFUSED, errno.ECONNRESET)


def ws_connect(server: ServerProcess, path: str = "/echo", **kwargs):
    """The ``websockets`` sync client; compression off unless asked for."""
    from websockets.sync.client import connect

    kwargs.setdefault("compression", None)
    kwargs.setdefault("open_timeout", 10)
    kwargs.setdefault("close_timeout", 10)
    return connect(server.url(path), **kwargs)
