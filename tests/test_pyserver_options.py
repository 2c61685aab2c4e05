"""Command line, --config file, alias map file, logging setup and the mod_pywebsocket alias."""

import importlib
import logging
import logging.handlers
import types

import pytest
from pywebsocket3 import dispatch, server_util, standalone, websocket_server


def parse(*argv):
    options, rest = standalone._parse_args_and_config(list(argv))
    return options


def test_defaults():
    o = parse()
    assert (o.server_host, o.port, o.websock_handlers, o.document_root) == ("", 80, ".", ".")
    assert o.validation_host is None and o.validation_port is None
    assert o.scan_dir is None and o.websock_handlers_map_file is None
    assert o.allow_handlers_outside_root_dir is False and o.use_tls is False
    assert (o.private_key, o.certificate, o.tls_client_ca) == ("", "", "")
    assert o.use_basic_auth is False and o.basic_auth_credential == "test:test"
    assert (o.log_file, o.log_level, o.deflate_log_level) == ("", "warn", "warn")
    assert (o.log_max, o.log_count, o.request_queue_size) == (262144, 5, 128)
    assert o.thread_monitor_interval_in_sec == -1 and o.handler_encoding is None
    assert o.cgi_paths is None and o.config_file is None
    assert o.handshake_timeout == 10 and o.max_message_size == 64 * 1024 * 1024
    assert o.max_connections == 0 and o.ping_interval is None and o.ping_timeout is None
    assert o.shutdown_timeout == 5 and o.workers == 1 and o.write_coalescing is True


@pytest.mark.parametrize(
    "argv, dest, value",
    [
        (["-H", "localhost"], "server_host", "localhost"),
        (["--server_host", "h"], "server_host", "h"),
        (["-V", "v"], "validation_host", "v"),
        (["--validation-port", "7"], "validation_port", 7),
        (["-P", "7"], "validation_port", 7),
        (["-w", "hd"], "websock_handlers", "hd"),
        (["--websock_handlers_map_file", "m"], "websock_handlers_map_file", "m"),
        (["-s", "sd"], "scan_dir", "sd"),
        (["--allow_handlers_outside_root_dir"], "allow_handlers_outside_root_dir", True),
        (["--document_root", "dr"], "document_root", "dr"),
        (["-x", "/cgi,/htbin"], "cgi_paths", "/cgi,/htbin"),
        (["-t"], "use_tls", True),
        (["--private_key", "k"], "private_key", "k"),
        (["-c", "c"], "certificate", "c"),
        (["--tls-client-auth"], "tls_client_auth", True),
        (["--tls_client_cert_optional"], "tls_client_cert_optional", True),
        (["--basic-auth"], "use_basic_auth", True),
        (["--basic-auth-credential", "a:b"], "basic_auth_credential", "a:b"),
        (["-l", "f.log"], "log_file", "f.log"),
        (["--log_level", "fine"], "log_level", "fine"),
        (["--thread_monitor_interval_in_sec", "3"], "thread_monitor_interval_in_sec", 3),
        (["-q", "7"], "request_queue_size", 7),
        (["--handler_encoding", "utf-8"], "handler_encoding", "utf-8"),
        (["--max_message_size", "1024"], "max_message_size", 1024),
        (["--ping-interval", "2.5"], "ping_interval", 2.5),
        (["--shutdown_timeout", "1"], "shutdown_timeout", 1.0),
        (["--no-write-coalescing"], "write_coalescing", False),
        (["--tls-module", "ssl"], "tls_module", "ssl"),
        (["--allow-draft75"], "allow_draft75", True),
        (["--strict"], "strict", True),
        (["--document-r", "abbrev"], "document_root", "abbrev"),
    ],
)
def test_flags(argv, dest, value):
    assert getattr(parse(*argv), dest) == value


def test_bad_arguments_exit(caplog):
    with pytest.raises(SystemExit) as info:
        parse("-p", "1", "stray")
    assert info.value.code == 1
    assert "Unrecognized positional arguments: ['stray']" in caplog.text
    with pytest.raises(SystemExit) as info:
        parse("--cgi", "/x")  # ambiguous prefix: argparse's own exit
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        parse("--log-level", "loud")
    assert info.value.code == 2


def test_config_file(tmp_path):
    config = tmp_path / "ws.conf"
    config.write_text(
        "[pywebsocket]\nport=9999\nlog_level=debug\ntls=False\nserver-host=example\n"
        "max_message_size=77\n"
    )
    o, rest = standalone._parse_args_and_config(["--config", str(config), "-p", "1"])
    assert o.port == 1  # the command line wins
    assert o.log_level == "debug" and o.server_host == "example" and o.max_message_size == 77
    assert o.use_tls is True  # a dummy value turns a flag on, as pywebsocket documents
    assert rest == ["False"]


def test_config_file_errors(tmp_path, caplog):
    with pytest.raises(SystemExit) as info:
        parse("--config", str(tmp_path / "missing.conf"))
    assert info.value.code == 1
    assert "Failed to open configuration file" in caplog.text
    bad = tmp_path / "bad.conf"
    bad.write_text("[other]\nport=1\n")
    with pytest.raises(SystemExit) as info:
        parse("--config", str(bad))
    assert info.value.code == 1


def test_alias_map_file(tmp_path, caplog):
    handlers = tmp_path / "h"
    handlers.mkdir()
    (handlers / "echo_wsh.py").write_text(
        "def web_socket_do_extra_handshake(r): pass\ndef web_socket_transfer_data(r): pass\n"
    )
    map_file = tmp_path / "map.txt"
    map_file.write_text(
        "# comment\n\n   \n/ /echo\n/a /\n/bad one two\n/trailing /echo \n/x /missing\n"
    )
    d = dispatch.Dispatcher(str(handlers))
    with caplog.at_level(logging.WARNING):
        websocket_server._alias_handlers(d, str(map_file))
    assert sorted(d._handler_suite_map) == ["/", "/a", "/echo"]
    assert caplog.text.count("Wrong format in map file:") == 2
    assert "No handler for: '/missing'" in caplog.text


def test_listen_addresses():
    assert websocket_server._listen_addresses("", 5) == [
        (10, "::", 5),
        (2, "0.0.0.0", 5),
    ]
    assert websocket_server._listen_addresses("127.0.0.1", 0) == [(2, "127.0.0.1", 0)]


def test_native_config_from_old_style_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = types.SimpleNamespace(server_host="127.0.0.1", port=0, use_tls=False)
    config = websocket_server._native_config(old)
    assert config["addresses"] == [(2, "127.0.0.1", 0)]
    assert config["backlog"] == 128 and config["document_root"] == str(tmp_path)
    assert config["tls"] is None and config["basic_auth"] is None
    assert config["cgi_paths"] == [] and config["handshake_timeout"] == 10
    assert config["max_header_bytes"] == 65536 and config["max_connections"] == 0
    assert config["write_coalescing"] is True
    old.use_basic_auth = True
    old.basic_auth_credential = "test:test"
    assert websocket_server._dynamic_config(old)["basic_auth"] == "Basic dGVzdDp0ZXN0"
    old.basic_auth_credential = "Basic xyz"
    assert websocket_server._dynamic_config(old)["basic_auth"] == "Basic xyz"
    old.use_tls = True
    old.private_key = "k.pem"
    old.certificate = "c.pem"
    tls = websocket_server._native_config(old)["tls"]
    assert tls["private_key"] == str(tmp_path / "k.pem") and tls["client_auth"] is False


def test_configure_logging_rotating_file(tmp_path):
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        o = parse("-l", str(tmp_path / "x.log"), "--log-level", "fine", "--log-max", "100")
        server_util.configure_logging(o)
        handler = root.handlers[-1]
        assert isinstance(handler, logging.handlers.RotatingFileHandler)
        assert handler.maxBytes == 100 and handler.backupCount == 5
        assert root.level == 9 and logging.getLevelName(9) == "FINE"
        logging.getLogger("pywebsocket3.test").warning("hello")
        handler.flush()
        text = (tmp_path / "x.log").read_text()
        assert "] [WARNING] pywebsocket3.test: hello" in text and text.startswith("[")
        handler.close()
    finally:
        root.handlers[:] = saved[1]
        root.setLevel(saved[0])


def test_old_names():
    assert standalone.WebSocketServer is websocket_server.WebSocketServer
    assert standalone._get_logger_from_class(dispatch.Dispatcher).name == (
        "pywebsocket3.dispatch.Dispatcher"
    )
    assert standalone._configure_logging is server_util.configure_logging
    assert standalone.ThreadMonitor is server_util.ThreadMonitor


SUBMODULES = [
    "common",
    "dispatch",
    "extensions",
    "handshake",
    "handshake.base",
    "handshake.hybi",
    "http_header_util",
    "memorizingfile",
    "msgutil",
    "request_handler",
    "server_util",
    "standalone",
    "stream",
    "util",
    "websocket_server",
    "_stream_exceptions",
]


@pytest.mark.parametrize("name", SUBMODULES)
def test_mod_pywebsocket_alias(name):
    old = importlib.import_module("mod_pywebsocket." + name)
    assert old is importlib.import_module("pywebsocket3." + name)


def test_mod_pywebsocket_renamed_modules():
    import pywebsocket3.handshake._base
    import pywebsocket3.msgutil
    from mod_pywebsocket import msgutil
    from mod_pywebsocket.handshake import _base

    assert _base is pywebsocket3.handshake._base
    assert pywebsocket3.handshake.__spec__.name == "pywebsocket3.handshake"
    assert msgutil is pywebsocket3.msgutil
    import mod_pywebsocket._stream_base as sb

    assert sb.InvalidFrameException is pywebsocket3.msgutil.InvalidFrameException
