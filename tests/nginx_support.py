"""The real nginx in front of real servers, for tests: a config written into a temporary
directory, nginx run in the foreground on an ephemeral loopback port, stopped at teardown.

    with NginxPool(tmp_path) as pool:
        port = pool.websocket_proxy([server_a.port, server_b.port])

``websocket_proxy`` is the configuration the README's Deploying section shows (WebSocket
upgrade headers, X-Forwarded-For, read timeout above --ping-interval). Without an nginx
binary the tests skip, except under CI=true, where they fail: CI installs nginx
(Debian's ``nginx`` and ``libnginx-mod-stream``, see .ci/install).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"
STREAM_MODULE_PATHS = ("/usr/lib/nginx/modules/ngx_stream_module.so",)
# Longer than any --ping-interval a test uses: nginx must not cut an idle WebSocket first.
DEFAULT_READ_TIMEOUT = 3600


def nginx_binary() -> str:
    """The nginx path; skips the test when there is none (fails instead when CI=true)."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    reason = "nginx is not installed (apt-get install nginx libnginx-mod-stream)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def stream_module() -> str:
    """The dynamic stream module (Debian's libnginx-mod-stream) to load_module."""
    for path in STREAM_MODULE_PATHS:
        if os.path.exists(path):
            return path
    listing = subprocess.run(
        ["dpkg", "-L", "libnginx-mod-stream"], capture_output=True, text=True, check=False
    ).stdout
    for line in listing.splitlines():
        if line.endswith("ngx_stream_module.so"):
            return line
    reason = "nginx's stream module is not installed (apt-get install libnginx-mod-stream)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def websocket_config(
    listen_port: int,
    upstream_ports: list[int],
    *,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    source_address: str | None = None,
) -> str:
    """The http{} block that proxies WebSockets (and plain HTTP) to the upstream servers."""
    servers = "".join(f"        server {LOOPBACK}:{port};\n" for port in upstream_ports)
    bind = f"            proxy_bind {source_address};\n" if source_address else ""
    return f"""http {{
    upstream pywebsocket {{
{servers}    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    server {{
        listen {LOOPBACK}:{listen_port};
        location / {{
            proxy_pass http://pywebsocket;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout {int(read_timeout)}s;
            proxy_send_timeout {int(read_timeout)}s;
            proxy_buffering off;
{bind}        }}
    }}
}}
"""


def stream_config(
    listen_port: int,
    upstream_port: int,
    *,
    proxy_protocol: bool = True,
    source_address: str | None = None,
) -> str:
    """The stream{} block: TCP passed through, with a PROXY v1 header first."""
    bind = f"        proxy_bind {source_address};\n" if source_address else ""
    header = "on" if proxy_protocol else "off"
    return f"""stream {{
    server {{
        listen {LOOPBACK}:{listen_port};
        proxy_pass {LOOPBACK}:{upstream_port};
        proxy_protocol {header};
        proxy_timeout {DEFAULT_READ_TIMEOUT}s;
{bind}    }}
}}
"""


class Nginx:
    """One nginx master in the foreground, its prefix a directory of its own."""

    def __init__(self, directory: Path, port: int, body: str, modules: list[str]):
        self.directory = directory
        self.port = port
        directory.mkdir(parents=True, exist_ok=True)
        for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (directory / temp).mkdir(exist_ok=True)
        # Workers run as root only when the master does (else the directive is ignored).
        user = "user root;\n" if os.geteuid() == 0 else ""
        loads = "".join(f"load_module {module};\n" for module in modules)
        temp_paths = "".join(
            f"    {name}_temp_path {directory / name};\n"
            for name in ("proxy", "fastcgi", "uwsgi", "scgi")
        )
        if body.startswith("http {"):
            body = body.replace(
                "http {\n",
                "http {\n    access_log off;\n"
                f"    client_body_temp_path {directory / 'body'};\n" + temp_paths,
                1,
            )
        self.config = f"{loads}{user}worker_processes 1;\nevents {{ worker_connections 256; }}\n"
        self.config += body
        (directory / "nginx.conf").write_text(self.config)
        self.error_log = directory / "error.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        command = [
            nginx_binary(),
            "-p",
            str(self.directory),
            "-c",
            str(self.directory / "nginx.conf"),
            "-e",
            str(self.error_log),
            "-g",
            f"daemon off; pid {self.directory / 'nginx.pid'};",
        ]
        self.proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited ({self.proc.returncode}):\n{self.log()}")
            if _listening(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen on {self.port}:\n{self.log()}")

    def log(self) -> str:
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def stop(self) -> None:
        """SIGTERM (fast shutdown: open connections are cut), then kill."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class NginxPool:
    """Starts nginx instances on demand; the ``with`` block stops them all."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.started: list[Nginx] = []

    def __enter__(self) -> NginxPool:
        nginx_binary()
        return self

    def __exit__(self, *exc) -> None:
        for nginx in self.started:
            nginx.stop()

    def start(self, make_body, modules: list[str] | tuple[str, ...] = ()) -> Nginx:
        """nginx with the config ``make_body(port)`` (an ``http {}`` or ``stream {}`` block)
        listening on a free loopback port; ``modules`` are load_module paths."""
        last_error: Exception | None = None
        for _attempt in range(5):
            port = _free_port()
            directory = self.directory / f"nginx-{len(self.started)}-{port}"
            nginx = Nginx(directory, port, make_body(port), list(modules))
            try:
                nginx.start()
            except RuntimeError as error:
                last_error = error
                if "in use" in str(error):
                    continue
                raise
            self.started.append(nginx)
            return nginx
        raise RuntimeError(f"nginx did not start: {last_error}")

    def websocket_proxy(
        self,
        upstream_ports: list[int],
        *,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        source_address: str | None = None,
    ) -> int:
        """nginx's port, proxying HTTP and WebSockets to ``upstream_ports`` (round robin).
        ``source_address``: the loopback address nginx connects from (proxy_bind)."""
        return self.start(
            lambda port: websocket_config(
                port, upstream_ports, read_timeout=read_timeout, source_address=source_address
            ),
            [],
        ).port

    def stream_proxy(
        self, upstream_port: int, *, proxy_protocol: bool = True, source_address: str | None = None
    ) -> int:
        """nginx's port, passing TCP to ``upstream_port`` after a PROXY v1 header."""
        return self.start(
            lambda port: stream_config(
                port, upstream_port, proxy_protocol=proxy_protocol, source_address=source_address
            ),
            [stream_module()],
        ).port
