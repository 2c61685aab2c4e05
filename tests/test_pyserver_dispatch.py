"""Dispatcher on its own: loading, resource mapping, hooks and the close-code table."""

import os
import textwrap

import pytest
from pywebsocket3 import common, dispatch, handshake, msgutil
from pywebsocket3._stream_exceptions import (
    MessageTooBigException,
    ProtocolViolationException,
)

GOOD = """
def web_socket_do_extra_handshake(request):
    request.seen_by = 'RESOURCE'

def web_socket_transfer_data(request):
    request.transferred = 'RESOURCE'
"""


def write(root, relpath, source, mode="w"):
    path = os.path.join(str(root), relpath)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(source if mode == "wb" else textwrap.dedent(source))
    return path


@pytest.fixture
def handlers(tmp_path):
    root = tmp_path / "handlers"
    write(root, "echo_wsh.py", GOOD.replace("RESOURCE", "echo"))
    write(root, "sub/plain_wsh.py", GOOD.replace("RESOURCE", "plain"))
    write(root, "sub/not_a_handler.py", GOOD)
    write(root, "blank_wsh.py", "")
    write(
        root,
        "sub/non_callable_wsh.py",
        "web_socket_do_extra_handshake = 1\nweb_socket_transfer_data = 2\n",
    )
    write(root, "sub/syntax_error_wsh.py", "def broken(:\n")
    write(root, "Upper_WSH.PY", GOOD)
    return root


class FakeStream:
    """Records close_connection calls; the Stream itself is not under test here."""

    def __init__(self):
        self.closes = []

    def close_connection(self, code=1000, reason="", wait_response=True):
        self.closes.append((code, wait_response))


class Request:
    def __init__(self, resource):
        self.ws_resource = resource
        self.server_terminated = False
        self.ws_stream = FakeStream()


def test_resources_and_warnings(handlers):
    d = dispatch.Dispatcher(str(handlers))
    assert sorted(d._handler_suite_map) == ["/echo", "/sub/plain"]
    warnings = sorted(d.source_warnings())
    root = os.path.realpath(str(handlers))
    assert warnings[0] == "%s/blank_wsh.py: web_socket_do_extra_handshake is not defined." % root
    assert (
        "%s/sub/non_callable_wsh.py: web_socket_do_extra_handshake is not callable." % root
        in warnings
    )
    syntax = [w for w in warnings if "syntax_error_wsh.py" in w]
    assert len(syntax) == 1 and "Error in sourcing handler:Traceback" in syntax[0]
    # Upper_WSH.PY is executed (pattern is case-insensitive) but never registered.
    assert not any("Upper" in w for w in warnings)


def test_scan_dir_and_root(handlers):
    d = dispatch.Dispatcher(str(handlers), str(handlers / "sub"))
    assert sorted(d._handler_suite_map) == ["/sub/plain"]
    d = dispatch.Dispatcher(str(handlers / "sub"))
    assert sorted(d._handler_suite_map) == ["/plain"]
    with pytest.raises(dispatch.DispatchException) as info:
        dispatch.Dispatcher(str(handlers / "sub"), str(handlers))
    assert "must be a directory under root_dir" in str(info.value)


def test_outside_root_symlink(tmp_path, handlers):
    outside = tmp_path / "outside"
    write(outside, "far_wsh.py", GOOD.replace("RESOURCE", "far"))
    os.symlink(str(outside / "far_wsh.py"), str(handlers / "far_wsh.py"))
    assert "/far" in dispatch.Dispatcher(str(handlers))._handler_suite_map
    assert "/far" not in dispatch.Dispatcher(str(handlers), None, False)._handler_suite_map


def test_handler_globals_and_traceback_filename(tmp_path):
    root = tmp_path / "h"
    path = write(
        root,
        "g_wsh.py",
        """
        NAME = __name__
        try:
            __file__
            HAS_FILE = True
        except NameError:
            HAS_FILE = False
        def web_socket_do_extra_handshake(request):
            request.info = (NAME, HAS_FILE)
        def web_socket_transfer_data(request):
            raise ValueError('boom')
        """,
    )
    d = dispatch.Dispatcher(str(root))
    request = Request("/g")
    d.do_extra_handshake(request)
    assert request.info == ("builtins", False)
    with pytest.raises(ValueError) as info:
        d.transfer_data(request)
    assert str(info.value) == "web_socket_transfer_data raised exception for /g: boom"
    files = [os.path.realpath(str(entry.path)) for entry in info.traceback]
    assert os.path.realpath(path) in files


def test_coding_cookie_and_handler_encoding(tmp_path):
    root = tmp_path / "enc"
    source = (
        "# -*- coding: latin-1 -*-\n"
        "TEXT = '\xe9t\xe9'\n"
        "def web_socket_do_extra_handshake(request):\n    request.text = TEXT\n"
        "def web_socket_transfer_data(request):\n    pass\n"
    )
    write(root, "latin_wsh.py", source.encode("latin-1"), mode="wb")
    write(root, "utf_wsh.py", source.replace("latin-1", "utf-8").encode("utf-8"), mode="wb")
    request = Request("/latin")
    dispatch.Dispatcher(str(root)).do_extra_handshake(request)
    assert request.text == "\xe9t\xe9"
    request = Request("/utf")
    dispatch.Dispatcher(str(root)).do_extra_handshake(request)
    assert request.text == "\xe9t\xe9"
    # An explicit encoding wins over the cookie: the latin-1 file no longer decodes.
    d = dispatch.Dispatcher(str(root), handler_encoding="utf-8")
    assert "/latin" not in d._handler_suite_map and "/utf" in d._handler_suite_map


def test_source_handler_file_directly():
    suite = dispatch._source_handler_file(GOOD)
    assert suite.passive_closing_handshake(None) == (1000, "")
    for bad in ("", "1/0", "def x(:"):
        with pytest.raises(dispatch.DispatchException):
            dispatch._source_handler_file(bad)


def test_lookup_query_fragment_and_alias(handlers):
    d = dispatch.Dispatcher(str(handlers))
    assert d.get_handler_suite("/echo?x=1") is d.get_handler_suite("/echo")
    assert d.get_handler_suite("/echo/") is None
    assert d.get_handler_suite("/nothere#frag") is None
    with pytest.raises(dispatch.DispatchException) as info:
        d.get_handler_suite("/echo#frag")
    assert info.value.status == 400
    seen = []
    d.add_resource_listener(seen.append)
    d.add_resource_path_alias("/", "/echo")
    assert d.get_handler_suite("/") is d.get_handler_suite("/echo")
    assert "/" in seen[-1]
    with pytest.raises(dispatch.DispatchException) as info:
        d.add_resource_path_alias("/x", "/missing")
    assert info.value.status == 404 and "No handler for: '/missing'" in str(info.value)


def test_path_helpers(tmp_path):
    assert dispatch._normalize_path(str(tmp_path) + "/a/../b") == os.path.realpath(
        str(tmp_path / "b")
    )
    convert = dispatch._create_path_to_resource_converter(str(tmp_path))
    base = os.path.realpath(str(tmp_path))
    assert convert(base + "/a/b_wsh.py") == "/a/b"
    assert convert(base + "/a/b_WSH.py") is None
    assert convert("/elsewhere/b_wsh.py") is None


def hook_dispatcher(tmp_path, extra, transfer):
    root = tmp_path / "hooks"
    write(
        root,
        "h_wsh.py",
        "from pywebsocket3 import handshake, msgutil, stream\n"
        "from pywebsocket3 import _stream_exceptions as ex\n"
        "def web_socket_do_extra_handshake(request):\n    %s\n"
        "def web_socket_transfer_data(request):\n    %s\n"
        "def web_socket_passive_closing_handshake(request):\n    return 3000, 'bye'\n"
        % (extra, transfer),
    )
    return dispatch.Dispatcher(str(root))


def test_extra_handshake_errors(tmp_path):
    d = hook_dispatcher(tmp_path, "raise handshake.HandshakeException('no', 418)", "pass")
    with pytest.raises(handshake.HandshakeException) as info:
        d.do_extra_handshake(Request("/h"))
    assert info.value.status == 403
    assert "web_socket_do_extra_handshake raised exception for /h: no" in str(info.value)
    d = hook_dispatcher(tmp_path, "raise handshake.AbortedByUserException('a')", "pass")
    with pytest.raises(handshake.AbortedByUserException):
        d.do_extra_handshake(Request("/h"))
    with pytest.raises(dispatch.DispatchException):
        d.do_extra_handshake(Request("/none"))


@pytest.mark.parametrize(
    "raised, closes",
    [
        ("pass", [(1000, True)]),
        ("raise msgutil.BadOperationException('x')", [(1011, True)]),
        ("raise ex.MessageTooBigException('x')", [(1009, False)]),
        ("raise ex.ProtocolViolationException('x')", [(1002, True)]),
        ("raise msgutil.InvalidFrameException('x')", [(1002, True)]),
        ("raise msgutil.UnsupportedFrameException('x')", [(1003, True)]),
        ("raise stream.InvalidUTF8Exception('x')", [(1007, True)]),
        ("raise msgutil.ConnectionTerminatedException('x')", []),
        ("request.server_terminated = True", []),
    ],
)
def test_transfer_data_close_codes(tmp_path, raised, closes):
    d = hook_dispatcher(tmp_path, "pass", raised)
    request = Request("/h")
    d.transfer_data(request)
    assert request.ws_stream.closes == closes


def test_transfer_data_abort_and_passive(tmp_path):
    d = hook_dispatcher(tmp_path, "pass", "raise handshake.AbortedByUserException('a')")
    request = Request("/h")
    with pytest.raises(handshake.AbortedByUserException):
        d.transfer_data(request)
    assert request.ws_stream.closes == []
    assert d.passive_closing_handshake(request) == (3000, "bye")
    assert d.passive_closing_handshake(Request("/none")) == (1000, "")


def test_exception_classes():
    assert issubclass(MessageTooBigException, msgutil.InvalidFrameException)
    assert issubclass(ProtocolViolationException, msgutil.UnsupportedFrameException)
    e = dispatch.DispatchException("x")
    assert e.status == common.HTTP_STATUS_NOT_FOUND
