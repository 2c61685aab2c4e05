"""The servers under test: how to install, start, pin, probe and stop each one."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
HANDLERS = BENCH / "servers"
LOADCLIENT_DIR = BENCH / "loadclient"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pywebsocket-rs-bench"

# Pinned so that a result table names exactly what it measured.
UPSTREAM_PACKAGES = ["pywebsocket3==4.0.2"]
PEER_PACKAGES = [
    "websockets==17.4",
    "picows==2.3.1",
    "uvloop==0.23.0",
    "granian==2.8.7",
    "socketify==0.0.31",
    "matplotlib",
]

SERVER_CORE = "0"
CLIENT_CORE = "1"
ORDER = [
    "ours",
    "ours-greenlets",
    "ours-async",
    "ours-async-uvloop",
    "pywebsocket3",
    "websockets",
    "picows",
    "picows-uvloop",
    "granian",
    "socketify",
    "rust",
    "rust-threads",
]


def ensure_venv(path: Path, packages: list[str]) -> Path:
    """A private venv with `packages`, created on first use (outside the repository)."""
    python = path / "bin" / "python"
    marker = path / ".bench-packages"
    wanted = "\n".join(packages)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    marker.write_text(wanted)
    return python


def build_loadclient() -> Path:
    """Builds (or finds up to date) the Rust load client and echo server."""
    subprocess.run(
        [
            "cargo",
            "build",
            "--release",
            "-q",
            "--manifest-path",
            str(LOADCLIENT_DIR / "Cargo.toml"),
        ],
        check=True,
    )
    return LOADCLIENT_DIR / "target" / "release"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc/PID/task/*/children."""
    tree, queue = [], [pid]
    while queue:
        current = queue.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return tree


class Server:
    """One server process pinned to the server core, with /proc readings of CPU and RSS."""

    def __init__(self, name: str, argv: list[str], port: int):
        self.name, self.port = name, port
        self.log = open(CACHE / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *argv],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._wait_listening()

    def _wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}; see {self.log.name}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on {self.port} within {timeout}s")

    def cpu_seconds(self) -> float:
        """utime + stime of every thread of the process and of its child processes (granian
        serves from a worker process)."""
        total = 0
        for pid in _process_tree(self.proc.pid):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        """VmRSS of the process and its child processes."""
        total = 0
        for pid in _process_tree(self.proc.pid):
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue
            total += sum(int(line.split()[1]) for line in lines if line.startswith("VmRSS:"))
        return total

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def command(name: str, pythons: dict[str, Path], bin_dir: Path, port: int, deflate: bool) -> list:
    """The command line of server `name`, echoing on ws://127.0.0.1:port/echo."""
    standalone = ["-m", "pywebsocket3.standalone", "-p", str(port), "-H", "127.0.0.1"]
    standalone += ["-d", str(HANDLERS), "-w", str(HANDLERS)]
    if name == "ours":
        return [str(pythons["ours"]), *standalone]
    if name == "ours-greenlets":
        return [str(pythons["ours"]), *standalone, "--greenlets"]
    if name in ("ours-async", "ours-async-uvloop"):
        async_dir = str(HANDLERS / "async")
        loop = "uvloop" if name == "ours-async-uvloop" else "asyncio"
        argv = [str(pythons["ours"]), *standalone[:-4], "-d", async_dir, "-w", async_dir]
        return argv + ["--event-loop", loop]
    if name == "pywebsocket3":
        return [str(pythons["upstream"]), *standalone]
    if name == "websockets":
        script = [str(pythons["peers"]), str(HANDLERS / "websockets_echo.py"), str(port)]
        return script + (["--deflate"] if deflate else [])
    if name in ("picows", "picows-uvloop"):
        argv = [str(pythons["peers"]), str(HANDLERS / "picows_echo.py"), str(port)]
        return argv + (["--uvloop"] if name == "picows-uvloop" else [])
    if name == "granian":
        return [str(pythons["peers"]), str(HANDLERS / "granian_echo.py"), str(port)]
    if name == "socketify":
        return [str(pythons["peers"]), str(HANDLERS / "socketify_echo.py"), str(port)]
    if name == "rust":
        return [str(bin_dir / "echo_rust"), str(port)]
    if name == "rust-threads":
        return [str(bin_dir / "echo_threads"), str(port)]
    raise ValueError(f"unknown server {name}")


def ours_importable(python: Path) -> bool:
    probe = "import pywebsocket3._native, pywebsocket3.standalone"
    return subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0
