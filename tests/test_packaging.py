"""Installing pywebsocket3 (this package) in fresh venvs with real pip, next to wptserve.

wptserve requires ``pywebsocket3>=4.0.2``; our distribution is ``pywebsocket3`` 4.1.0, so in
every order pip keeps ours and ``pip check`` is clean. A mixed install (the original written
over ours, or the old ``pywebsocket-rs`` distribution left behind) stops with one message.

Our package comes from a built wheel, never a build per venv: $PYWEBSOCKET_WHEEL (.ci/run sets
it to the abi3 wheel of ``make wheel``), else a matching wheel in dist/ (.ci/install leaves one
there). The original is built once from the sdist .ci/install caches; wptserve, h2 and six come
from PyPI through a pip cache shared by every venv. Select with ``-m packaging``.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_SDIST = ROOT / "tests" / ".cache" / "pywebsocket3-4.0.2.tar.gz"
PIP_CACHE = ROOT / "tests" / ".cache" / "pip-packaging"
VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
MIXED = "is a mix of pywebsocket-rs and another install"
# What our wheel puts in site-packages, and nothing else of that name.
OUR_TOP_LEVEL = sorted(
    [
        "_pywebsocket3_guard.py",
        "mod_pywebsocket",
        "pywebsocket3",
        "pywebsocket3-%s.dist-info" % VERSION,
        "pywebsocket3-guard.pth",
    ]
)

ECHO_HANDLER = """\
def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        request.ws_stream.send_message(message, binary=isinstance(message, bytes))
"""

# What wptserve's modules import from pywebsocket3, and what only ours has.
EMBED_CHECK = """\
import wptserve.server, wptserve.ws_h2_handshake
from pywebsocket3 import common, dispatch, handshake
from pywebsocket3.handshake import AbortedByUserException, HandshakeException
from pywebsocket3.handshake.base import HandshakerBase, get_mandatory_header
import pywebsocket3, pywebsocket3._native, mod_pywebsocket.msgutil
print(pywebsocket3.__version__, pywebsocket3._native.__version__)
"""


def _wheel_for_this_python():
    """Our wheel: $PYWEBSOCKET_WHEEL, else one in dist/ that this CPython can install."""
    named = os.environ.get("PYWEBSOCKET_WHEEL")
    if named:
        if not Path(named).is_file():
            pytest.fail("PYWEBSOCKET_WHEEL=%s: no such file" % named)
        return Path(named)
    tag = "cp%d%d" % sys.version_info[:2]
    for wheel in sorted((ROOT / "dist").glob("pywebsocket3-%s-*.whl" % VERSION)):
        python_tag, abi_tag = wheel.name.split("-")[2:4]
        if abi_tag == "abi3" or python_tag == tag:
            return wheel
    pytest.skip(
        "no pywebsocket3-%s wheel for this Python in dist/ (run `make wheel` or .ci/install, "
        "or set PYWEBSOCKET_WHEEL)" % VERSION
    )


def _clean_env():
    """The environment for pip and the venvs' Pythons: nothing that points at this checkout."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")
        and not key.startswith("PYWEBSOCKET_TEST")
    }
    env.update(PIP_CACHE_DIR=str(PIP_CACHE), PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


class Venv:
    """A fresh ``python -m venv`` with its own pip."""

    def __init__(self, path):
        self.path = path
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        self.python = path / "bin" / "python"
        self.site = Path(
            self.run(
                "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
            ).stdout.strip()
        )

    def run(self, *args, check=True):
        result = subprocess.run(
            [str(self.python), *args],
            capture_output=True,
            text=True,
            env=_clean_env(),
            cwd=self.path,
            timeout=300,
        )
        if check and result.returncode != 0:
            pytest.fail(
                "%s failed (%d):\n%s\n%s"
                % (" ".join(args), result.returncode, result.stdout, result.stderr)
            )
        return result

    def pip(self, *args, check=True):
        return self.run("-m", "pip", *args, check=check)

    def script(self, name, *args):
        return subprocess.run(
            [str(self.path / "bin" / name), *args],
            capture_output=True,
            text=True,
            env=_clean_env(),
            cwd=self.path,
            timeout=60,
        )

    def frozen(self, name):
        """The ``pip freeze`` line of ``name``: ``name==version`` or ``name @ URL``."""
        lines = self.pip("freeze", "--all").stdout.splitlines()
        found = [line for line in lines if re.match(r"%s( @ |==)" % name, line)]
        assert len(found) == 1, lines
        return found[0]


@pytest.fixture(scope="module")
def our_wheel(tmp_path_factory):
    """Our wheel, alone in a directory of its own: `--find-links` there must not see the
    other build that dist/ may hold (pip would prefer a cp311 wheel to the abi3 one)."""
    wheel = _wheel_for_this_python()
    alone = tmp_path_factory.mktemp("ours") / wheel.name
    shutil.copy2(wheel, alone)
    return alone


@pytest.fixture(scope="module")
def upstream_wheels(tmp_path_factory):
    """The original pywebsocket3 4.0.2 (built once from the cached sdist) and six, its one need."""
    if not UPSTREAM_SDIST.is_file():
        pytest.skip("%s is missing (.ci/install downloads it)" % UPSTREAM_SDIST)
    directory = tmp_path_factory.mktemp("upstream")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "-w", str(directory)] + [str(UPSTREAM_SDIST)],
        check=True,
        env=_clean_env(),
        timeout=300,
    )
    return directory


@pytest.fixture
def venv(tmp_path):
    return Venv(tmp_path / "venv")


def _install_ours(venv, wheel, *extra):
    """Ours by path, as ``pip install .`` does (without building it again)."""
    venv.pip("install", "-q", "--find-links", str(wheel.parent), *extra, str(wheel))


def _assert_files_are_ours(venv, wheel):
    """site-packages holds our wheel's pywebsocket files and no others (stale or original)."""
    assert sorted(p.name for p in venv.site.glob("*pywebsocket*")) == OUR_TOP_LEVEL
    with zipfile.ZipFile(wheel) as archive:
        expected = {
            name
            for name in archive.namelist()
            if name.startswith(("pywebsocket3/", "mod_pywebsocket/"))
        }
    installed = {
        path.relative_to(venv.site).as_posix()
        for top in ("pywebsocket3", "mod_pywebsocket")
        for path in (venv.site / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert installed == expected


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _deflate_offer_answer(port):
    """The 101 response to an offer of permessage-deflate with client_no_context_takeover."""
    request = (
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n\r\n" % port
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                break
            head += chunk
    return head.decode("latin-1")


def _assert_our_server_runs(venv, tmp_path):
    """python -m pywebsocket3.standalone accepts what only ours accepts (the original declines)."""
    handlers = tmp_path / "handlers"
    handlers.mkdir(exist_ok=True)
    (handlers / "echo_wsh.py").write_text(ECHO_HANDLER)
    port = _free_port()
    server = subprocess.Popen(
        [str(venv.python), "-m", "pywebsocket3.standalone", "-H", "127.0.0.1", "-p", str(port)]
        + ["-d", str(handlers)],
        env=_clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = _deflate_offer_answer(port)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the server did not start: %s" % server.stderr.read().decode())
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=15)
    assert answer.startswith("HTTP/1.1 101"), answer
    assert re.search(r"(?im)^Sec-WebSocket-Extensions: permessage-deflate", answer), answer


def _assert_ours_in_charge(venv, wheel, tmp_path):
    _assert_files_are_ours(venv, wheel)
    embed = venv.run("-c", EMBED_CHECK)
    assert embed.stdout.split() == [VERSION, VERSION]
    frozen = venv.frozen("pywebsocket3")
    assert frozen == "pywebsocket3==%s" % VERSION or re.fullmatch(
        r"pywebsocket3 @ file:///\S+/pywebsocket3-%s-\S+\.whl(#sha256=\w+)?" % re.escape(VERSION),
        frozen,
    ), frozen
    check = venv.pip("check", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    _assert_our_server_runs(venv, tmp_path)


def test_ours_then_wptserve(venv, our_wheel, upstream_wheels, tmp_path):
    # By name from a release's file list, as `pip install pywebsocket3 --find-links URL` does.
    venv.pip("install", "-q", "--find-links", str(our_wheel.parent), "pywebsocket3")
    venv.pip("install", "-q", "--find-links", str(upstream_wheels), "wptserve")
    _assert_ours_in_charge(venv, our_wheel, tmp_path)
    # The extra, by name, from PyPI: pip keeps ours (4.1.0 satisfies it) and adds greenlet.
    venv.pip("install", "-q", "--find-links", str(upstream_wheels), "pywebsocket3[greenlet]")
    assert venv.frozen("pywebsocket3") == "pywebsocket3==%s" % VERSION
    venv.run("-c", "import greenlet, pywebsocket3._hub")


def test_wptserve_then_ours(venv, our_wheel, upstream_wheels, tmp_path):
    venv.pip("install", "-q", "--find-links", str(upstream_wheels), "wptserve")
    assert venv.frozen("pywebsocket3") == "pywebsocket3==4.0.2"
    _install_ours(venv, our_wheel)
    _assert_ours_in_charge(venv, our_wheel, tmp_path)


def test_one_requirements_file(venv, our_wheel, upstream_wheels, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "--find-links %s\n--find-links %s\nwptserve\npywebsocket3>=%s\n"
        % (our_wheel.parent, upstream_wheels, VERSION)
    )
    venv.pip("install", "-q", "-r", str(requirements))
    _assert_ours_in_charge(venv, our_wheel, tmp_path)


def test_uninstall_removes_everything(venv, our_wheel):
    before = sorted(p.name for p in venv.site.iterdir())
    _install_ours(venv, our_wheel, "--no-deps")
    assert venv.run("-c", "import pywebsocket3._native").returncode == 0
    assert (venv.path / "bin" / "pywebsocket-rs").exists()
    venv.pip("uninstall", "-y", "pywebsocket3")
    leftovers = sorted(set(p.name for p in venv.site.iterdir()) - set(before))
    assert leftovers in ([], ["__pycache__"])
    if leftovers:
        assert not any("pywebsocket" in p.name for p in (venv.site / "__pycache__").iterdir())
    assert not (venv.path / "bin" / "pywebsocket-rs").exists()


def _assert_refused(venv):
    """Each way of starting pywebsocket3 prints the one message and fails."""
    runs = {
        "import": venv.run("-c", "import pywebsocket3", check=False),
        "mod_pywebsocket": venv.run("-c", "import mod_pywebsocket.msgutil", check=False),
        "script": venv.script("pywebsocket-rs", "-p", "0"),
        "-m": venv.run("-m", "pywebsocket3.standalone", "-p", "0", check=False),
    }
    for how, run in runs.items():
        assert run.returncode != 0, how
        assert run.stderr.count(MIXED) == 1, (how, run.stderr)
        assert "Traceback" not in run.stderr, (how, run.stderr)
        assert len(run.stderr.strip().splitlines()) == 1, (how, run.stderr)
        assert "pip uninstall -y pywebsocket-rs pywebsocket3" in run.stderr, (how, run.stderr)
    # Other programs in the venv start as usual.
    assert venv.run("-c", "import json; print(1)").stdout == "1\n"


def _repair(venv, our_wheel):
    """The repair the message names, then ours again: back to a clean install."""
    venv.pip("uninstall", "-y", "pywebsocket-rs", "pywebsocket3")
    _install_ours(venv, our_wheel, "--force-reinstall")
    _assert_files_are_ours(venv, our_wheel)
    assert venv.run("-c", "import pywebsocket3._native").returncode == 0
    check = venv.pip("check", check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_original_written_over_ours_is_refused(venv, our_wheel, upstream_wheels):
    _install_ours(venv, our_wheel)
    venv.pip(
        "install",
        "-q",
        "--no-index",
        "--find-links",
        str(upstream_wheels),
        "--ignore-installed",
        "pywebsocket3==4.0.2",
    )
    _assert_refused(venv)
    _repair(venv, our_wheel)


def _old_distribution(our_wheel, directory):
    """A wheel laid out as the earlier pywebsocket-rs 0.1.0 was: our files, no guard, and the
    extension module built for this CPython (not abi3), so that it outranks ours if left behind."""
    old = directory / "pywebsocket_rs-0.1.0-py3-none-any.whl"
    new_info = "pywebsocket3-%s.dist-info/" % VERSION
    with zipfile.ZipFile(our_wheel) as source, zipfile.ZipFile(old, "w") as target:
        for item in source.infolist():
            name = item.filename
            if name.startswith(("_pywebsocket3_guard", "pywebsocket3-guard")):
                continue
            data = source.read(item)
            if name.startswith("pywebsocket3/_native.") and name.endswith(".so"):
                name = "pywebsocket3/_native" + sysconfig.get_config_var("EXT_SUFFIX")
            if name.startswith(new_info):
                name = "pywebsocket_rs-0.1.0.dist-info/" + name[len(new_info) :]
                if name.endswith("/RECORD"):
                    continue
                if name.endswith("/METADATA"):
                    data = re.sub(rb"(?m)^Name: .*$", b"Name: pywebsocket-rs", data)
                    data = re.sub(rb"(?m)^Version: .*$", b"Version: 0.1.0", data)
            target.writestr(name, data)
        target.writestr("pywebsocket_rs-0.1.0.dist-info/RECORD", "")
    return old


def test_leftover_old_distribution_is_refused(venv, our_wheel, upstream_wheels, tmp_path):
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    old = _old_distribution(our_wheel, old_dir)
    venv.pip("install", "-q", "--no-deps", str(old))
    # What wptserve did to it: the original written over the old distribution's files.
    venv.pip(
        "install", "-q", "--no-index", "--find-links", str(upstream_wheels), "pywebsocket3==4.0.2"
    )
    # Then this version: it replaces the original, but the old record still claims the files.
    _install_ours(venv, our_wheel)
    assert (venv.site / "pywebsocket_rs-0.1.0.dist-info").is_dir()
    # The old extension module is still there, and the import system would pick it over ours.
    assert len(list((venv.site / "pywebsocket3").glob("_native*.so"))) == 2
    _assert_refused(venv)
    _repair(venv, our_wheel)
    assert not (venv.site / "pywebsocket_rs-0.1.0.dist-info").exists()


def test_guard_costs_nothing_when_clean(venv, our_wheel):
    _install_ours(venv, our_wheel, "--no-deps")
    probe = "import sys; print(sys.excepthook is sys.__excepthook__, len(sys.meta_path))"
    with_guard = venv.run("-c", probe).stdout
    shutil.move(str(venv.site / "pywebsocket3-guard.pth"), str(venv.path / "guard.pth"))
    without_guard = venv.run("-c", probe).stdout
    assert with_guard == without_guard
