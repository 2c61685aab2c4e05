"""Handler loading and resource mapping (§1.1-§1.3): broken files, warnings, encodings,
-w, -s/--scan-dir, -m map files, --allow-handlers-outside-root-dir."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import (
    FIXTURE_BROKEN,
    FIXTURE_HANDLERS,
    OP_TEXT,
    RawConn,
    open_ws,
    run_server_expecting_exit,
    start_server,
    upgrade_request,
)


def status_of(port: int, path: str) -> int:
    with RawConn(port) as conn:
        conn.send(upgrade_request(path))
        return conn.read_response().status


@pytest.fixture(scope="module")
def broken_server(tmp_path_factory):
    server = start_server(FIXTURE_BROKEN, log_dir=tmp_path_factory.mktemp("broken"))
    yield server
    server.stop()


def test_server_starts_despite_broken_handlers(broken_server):
    with open_ws(broken_server.port, "/good") as conn:
        # Loaded once at startup, exec'd with __name__ resolving to 'builtins'.
        assert conn.recv_frame().payload == b"good name=builtins loads=1"


@pytest.mark.parametrize(
    "resource",
    [
        "/syntax_error",
        "/missing_transfer",
        "/missing_handshake",
        "/not_callable",
        "/raises_at_load",
        "/blank",
        "/wrong_case_WSH",
        "/wrong_case",
        "/no_suffix",
    ],
)
def test_broken_handlers_are_not_registered(broken_server, resource):
    assert status_of(broken_server.port, resource) == 404


@pytest.mark.parametrize(
    "fragment",
    [
        "syntax_error_wsh.py",
        "missing_transfer_wsh.py: web_socket_transfer_data is not defined.",
        "missing_handshake_wsh.py: web_socket_do_extra_handshake is not defined.",
        "not_callable_wsh.py: web_socket_transfer_data is not callable.",
        "raises_at_load_wsh.py",
        "blank_wsh.py: web_socket_do_extra_handshake is not defined.",
    ],
)
def test_broken_handlers_logged_as_warnings(broken_server, fragment):
    log = broken_server.log()
    lines = [line for line in log.splitlines() if fragment in line]
    assert lines, log
    assert any("Warning in source loading" in line for line in lines), lines


def test_no_suffix_file_is_not_even_loaded(broken_server):
    assert "no_suffix.py" not in broken_server.log()


def test_latin1_coding_cookie_is_honoured(broken_server):
    with open_ws(broken_server.port, "/latin1") as conn:
        assert conn.recv_frame().payload.decode("utf-8") == "café à la crème"


def test_utf8_is_the_default_encoding(broken_server):
    with open_ws(broken_server.port, "/utf8_default") as conn:
        assert conn.recv_frame().payload.decode("utf-8") == "日本語 ünïcödé"


def test_handler_encoding_option_overrides(server_factory):
    server = server_factory(FIXTURE_BROKEN, "--handler-encoding", "utf-8")
    # With an explicit utf-8 the latin-1 bytes do not decode: that handler is skipped.
    assert status_of(server.port, "/latin1") == 404
    assert status_of(server.port, "/utf8_default") == 101


# ------------------------------------------------------------------------------ -w and -s


def test_handlers_root_separate_from_document_root(server_factory, tmp_path):
    (tmp_path / "page.txt").write_text("document root")
    server = server_factory(tmp_path, handlers=FIXTURE_HANDLERS)
    with open_ws(server.port, "/sub/plain") as conn:
        assert conn.recv_frame().payload == b"plain:/sub/plain"
    with RawConn(server.port) as conn:
        conn.send(b"GET /page.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.read_response().body == b"document root"


def test_relative_handlers_root_resolved_against_document_root(server_factory):
    server = server_factory(FIXTURE_HANDLERS.parent, handlers="handlers")
    assert status_of(server.port, "/sub/plain") == 101


def test_scan_dir_limits_loading_but_keeps_root_relative_resources(server_factory):
    server = server_factory(
        FIXTURE_HANDLERS, "-s", str(FIXTURE_HANDLERS / "sub"), handlers=FIXTURE_HANDLERS
    )
    with open_ws(server.port, "/sub/plain") as conn:
        assert conn.recv_frame().payload == b"plain:/sub/plain"
    assert status_of(server.port, "/echo") == 404
    assert status_of(server.port, "/plain") == 404


def test_scan_dir_outside_root_exits_1(tmp_path):
    result = run_server_expecting_exit(
        FIXTURE_HANDLERS, "-w", str(FIXTURE_HANDLERS / "sub"), "-s", str(FIXTURE_BROKEN)
    )
    assert result.returncode == 1, result


# ----------------------------------------------------------------------------- map file


def test_map_file_aliases_and_bad_lines(server_factory, tmp_path):
    map_file = tmp_path / "map.txt"
    map_file.write_text(
        "# comment\n"
        "\n"
        "   \n"
        "/alias /echo\n"
        "/alias2 /alias\n"  # earlier aliases count
        "/three tokens here\n"  # wrong format: warned and skipped
        "/missing /no_such_handler\n"  # no handler: error logged, processing continues
        "/after /sub/plain\n"
    )
    server = server_factory(FIXTURE_HANDLERS, "-m", str(map_file))
    for alias in ["/alias", "/alias2"]:
        with open_ws(server.port, alias) as conn:
            conn.send_frame(OP_TEXT, b"via " + alias.encode())
            assert conn.recv_frame().payload == b"via " + alias.encode()
    with open_ws(server.port, "/after") as conn:
        # The handler sees the requested resource, not the alias target.
        assert conn.recv_frame().payload == b"plain:/after"
    assert status_of(server.port, "/three") == 404
    assert status_of(server.port, "/missing") == 404
    log = server.log()
    assert "Wrong format in map file" in log
    assert "/no_such_handler" in log


# ---------------------------------------------------- --allow-handlers-outside-root-dir


@pytest.fixture
def symlinked_root(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    shutil.copy(FIXTURE_HANDLERS / "echo_wsh.py", outside / "far_wsh.py")
    os.symlink(outside / "far_wsh.py", root / "linked_wsh.py")
    shutil.copy(FIXTURE_HANDLERS / "echo_wsh.py", root / "local_wsh.py")
    return root


def test_symlink_outside_root_refused_by_default(server_factory, symlinked_root):
    server = server_factory(symlinked_root)
    assert status_of(server.port, "/local") == 101
    assert status_of(server.port, "/linked") == 404


def test_symlink_outside_root_allowed_with_flag(server_factory, symlinked_root):
    server = server_factory(symlinked_root, "--allow-handlers-outside-root-dir")
    with open_ws(server.port, "/linked") as conn:
        conn.send_frame(OP_TEXT, b"far away")
        assert conn.recv_frame().payload == b"far away"
