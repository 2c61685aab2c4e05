"""The standalone WebSocket server (pywebsocket's command line, native transport).

Run it in any of these ways; the process started is the server itself:

    python -m pywebsocket3.standalone -p 9998 -d docroot -w handlers
    python <site-packages>/pywebsocket3/standalone.py -p 9998 -d docroot
    pywebsocket-rs -p 9998 -d docroot

``-d`` is the document root: the server changes into it first, so relative
paths (``-w``, ``-k``, ``-c``, ``-m``) are relative to it, and static files and
CGI (``-x /cgi-bin``) are served from it. ``-w`` is the root of the
``*_wsh.py`` handler files (default: the document root).

Configuration file (``--config FILE``): a ConfigParser file with a
``[pywebsocket]`` section whose keys are long option names (``log_level=debug``,
``port=9998``). Flags without a value need a dummy one (``tls=True``; even
``tls=False`` turns TLS on). The command line wins over the file.

Options beyond pywebsocket's: ``--handshake-timeout``, ``--max-message-size``,
``--max-connections``, ``--ping-interval``, ``--ping-timeout``,
``--shutdown-timeout``, ``--no-write-coalescing`` and ``--workers``. SIGTERM and
SIGINT stop the server cleanly: every open WebSocket gets Close 1001, handlers get
``--shutdown-timeout`` seconds to return, and the process exits with status 0.

Security: the server runs handler code and CGI programs; keep it behind a
firewall, as pywebsocket always advised.
"""

import os
import sys

if not __package__:
    # Run by path: sys.path[0] is this package's directory; import the package instead.
    _package_dir = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _package_dir]
    sys.path.insert(0, os.path.dirname(_package_dir))

import argparse  # noqa: E402
import base64  # noqa: E402
import configparser  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

from pywebsocket3 import common, server_util, util  # noqa: E402
from pywebsocket3.server_util import (  # noqa: E402, F401
    ThreadMonitor,
    _get_logger_from_class,
)
from pywebsocket3.server_util import configure_logging as _configure_logging  # noqa: E402, F401
from pywebsocket3.websocket_server import (  # noqa: E402
    DEFAULT_MAX_MESSAGE_SIZE,
    WebSocketServer,
    exit_if_handlers_linger,
)

_DEFAULT_LOG_MAX_BYTES = 1024 * 256
_DEFAULT_LOG_BACKUP_COUNT = 5
_DEFAULT_REQUEST_QUEUE_SIZE = 128
_LOG_LEVELS = ["fine", "debug", "info", "warning", "warn", "error", "critical"]

__all__ = ["WebSocketServer", "_build_option_parser", "_parse_args_and_config", "_main"]


def _flags(name, *short):
    """A long option in both spellings (dash and underscore), after any short flags."""
    spellings = list(short) + ["--" + name]
    if "-" in name:
        spellings.append("--" + name.replace("-", "_"))
    return spellings


def _build_option_parser():
    """The argparse parser for every pywebsocket flag plus ours."""
    parser = argparse.ArgumentParser(description="pywebsocket standalone WebSocket server")
    add = parser.add_argument
    add("--config", dest="config_file", default=None, help="configuration file ([pywebsocket])")
    add(*_flags("server-host", "-H"), dest="server_host", default="", help="host to listen on")
    add(
        *_flags("validation-host", "-V"),
        dest="validation_host",
        default=None,
        help="host expected in an absolute ws:// request target",
    )
    add(
        "-p",
        "--port",
        dest="port",
        type=int,
        default=common.DEFAULT_WEB_SOCKET_PORT,
        help="port to listen on (0: any free port)",
    )
    add(
        *_flags("validation-port", "-P"),
        dest="validation_port",
        type=int,
        default=None,
        help="port expected in an absolute ws:// request target",
    )
    add(
        *_flags("websock-handlers", "-w"),
        dest="websock_handlers",
        default=".",
        help="root of the *_wsh.py handlers (relative to the document root)",
    )
    add(
        *_flags("websock-handlers-map-file", "-m"),
        dest="websock_handlers_map_file",
        default=None,
        help="alias map: lines of 'alias_resource existing_resource'",
    )
    add(
        *_flags("scan-dir", "-s"),
        dest="scan_dir",
        default=None,
        help="load only handlers under this directory (inside the handler root)",
    )
    add(
        *_flags("allow-handlers-outside-root-dir"),
        dest="allow_handlers_outside_root_dir",
        action="store_true",
        default=False,
        help="load handlers whose real path lies outside the handler root",
    )
    add(*_flags("document-root", "-d"), dest="document_root", default=".", help="document root")
    add(
        *_flags("cgi-paths", "-x"),
        dest="cgi_paths",
        default=None,
        help="comma-separated URL prefixes served as CGI (e.g. /cgi-bin,/htbin)",
    )
    add("-t", "--tls", dest="use_tls", action="store_true", default=False, help="wss:// only")
    add(*_flags("private-key", "-k"), dest="private_key", default="", help="TLS private key")
    add("-c", "--certificate", dest="certificate", default="", help="TLS certificate")
    add(
        *_flags("tls-client-auth"),
        dest="tls_client_auth",
        action="store_true",
        default=False,
        help="require a TLS client certificate",
    )
    add(
        *_flags("tls-client-cert-optional"),
        dest="tls_client_cert_optional",
        action="store_true",
        default=False,
        help="with --tls-client-auth: a client certificate is optional",
    )
    add(
        *_flags("tls-client-ca"),
        dest="tls_client_ca",
        default="",
        help="CA certificates (PEM) that client certificates are checked against",
    )
    add(
        *_flags("basic-auth"),
        dest="use_basic_auth",
        action="store_true",
        default=False,
        help="require HTTP Basic authentication on every request",
    )
    add(
        *_flags("basic-auth-credential"),
        dest="basic_auth_credential",
        default="test:test",
        help="user:password for --basic-auth",
    )
    add(*_flags("log-file", "-l"), dest="log_file", default="", help="log file (rotated)")
    add(*_flags("log-level"), dest="log_level", default="warn", choices=_LOG_LEVELS)
    add(
        *_flags("deflate-log-level"),
        dest="deflate_log_level",
        default="warn",
        choices=_LOG_LEVELS[1:],
        help="log level of the deflate helpers",
    )
    add(
        *_flags("thread-monitor-interval-in-sec"),
        dest="thread_monitor_interval_in_sec",
        type=int,
        default=-1,
        help="if positive, log the live threads at this interval",
    )
    add(*_flags("log-max"), dest="log_max", type=int, default=_DEFAULT_LOG_MAX_BYTES)
    add(*_flags("log-count"), dest="log_count", type=int, default=_DEFAULT_LOG_BACKUP_COUNT)
    add(
        "-q",
        "--queue",
        dest="request_queue_size",
        type=int,
        default=_DEFAULT_REQUEST_QUEUE_SIZE,
        help="listen backlog",
    )
    add(
        *_flags("handler-encoding"),
        dest="handler_encoding",
        default=None,
        help="encoding of handler sources (default: coding cookie, else UTF-8)",
    )
    # Limits and timeouts (not in pywebsocket).
    add(
        *_flags("handshake-timeout"),
        dest="handshake_timeout",
        type=float,
        default=10.0,
        help="seconds for the whole request head (and TLS handshake) to arrive",
    )
    add(
        *_flags("max-message-size"),
        dest="max_message_size",
        type=int,
        default=DEFAULT_MAX_MESSAGE_SIZE,
        help="largest message accepted, in bytes; larger ones close with 1009",
    )
    add(
        *_flags("max-connections"),
        dest="max_connections",
        type=int,
        default=0,
        help="most open WebSocket connections (0: no limit); more get 503",
    )
    add(
        *_flags("ping-interval"),
        dest="ping_interval",
        type=float,
        default=None,
        help="ping every connection this often, in seconds (default: off)",
    )
    add(
        *_flags("ping-timeout"),
        dest="ping_timeout",
        type=float,
        default=None,
        help="close (1011) a connection whose pong is this late, in seconds",
    )
    add(
        *_flags("shutdown-timeout"),
        dest="shutdown_timeout",
        type=float,
        default=5.0,
        help="seconds handlers get to return after SIGTERM/SIGINT",
    )
    add(
        *_flags("no-write-coalescing"),
        dest="write_coalescing",
        action="store_false",
        default=True,
        help="write every reply at once, even to a client that pipelined more messages",
    )
    add(
        "--workers",
        dest="workers",
        type=int,
        default=1,
        help="processes sharing the listening sockets",
    )
    # Accepted for old mod_pywebsocket command lines; they do nothing.
    add(*_flags("tls-module"), dest="tls_module", default=None, help=argparse.SUPPRESS)
    add(
        *_flags("allow-draft75"),
        dest="allow_draft75",
        action="store_true",
        default=False,
        help=argparse.SUPPRESS,
    )
    add("--strict", dest="strict", action="store_true", default=False, help=argparse.SUPPRESS)
    return parser


def _parse_args_and_config(args):
    """Parse ``args`` (default sys.argv[1:]) after the --config file's entries.

    Returns ``(options, leftover)``. Unknown arguments on the command line log a
    critical message and exit with status 1.
    """
    parser = _build_option_parser()
    if args is None:
        args = sys.argv[1:]
    options, unknown = parser.parse_known_args(args=args)
    if unknown:
        logging.critical("Unrecognized positional arguments: %r", unknown)
        sys.exit(1)
    if not options.config_file:
        return options, unknown
    try:
        with open(options.config_file) as config_file:
            config = configparser.ConfigParser()
            config.read_file(config_file)
        items = config.items("pywebsocket")
    except (OSError, configparser.Error) as e:
        logging.critical("Failed to open configuration file %r: %r", options.config_file, e)
        sys.exit(1)
    from_config = []
    for name, value in items:
        from_config.extend(["--" + name, value])
    # Dummy values of valueless flags are left over here and ignored, as pywebsocket did.
    return parser.parse_known_args(args=from_config + list(args))


def _setup_cgi(options):
    options.cgi_directories = []
    options.is_executable_method = None
    if options.cgi_paths:
        options.cgi_directories = options.cgi_paths.split(",")
        if sys.platform in ("cygwin", "win32"):
            cygwin_path = os.environ.get("CYGWIN_PATH")

            def check_script(script_path):
                return util.get_script_interp(script_path, cygwin_path)

            options.is_executable_method = check_script


def _check_tls_options(options):
    """pywebsocket's TLS option checks: critical log and exit 1 on a bad combination."""
    if options.use_tls:
        if not options.private_key or not options.certificate:
            logging.critical("To use TLS, specify private_key and certificate.")
            sys.exit(1)
        if options.tls_client_cert_optional and not options.tls_client_auth:
            logging.critical(
                "Client authentication must be enabled to specify tls_client_cert_optional"
            )
            sys.exit(1)
    elif options.tls_client_auth or options.tls_client_cert_optional:
        logging.critical("TLS must be enabled for client authentication.")
        sys.exit(1)


def _warn_obsolete_flags(options):
    for dest, flag in (
        ("tls_module", "--tls-module"),
        ("allow_draft75", "--allow-draft75"),
        ("strict", "--strict"),
    ):
        if getattr(options, dest, None):
            logging.warning("%s is obsolete and ignored", flag)


def _install_signal_handlers(server):
    """SIGTERM/SIGINT ask serve_forever to stop (only possible on the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum, frame):
        logging.getLogger("pywebsocket3.standalone").info("Signal %d: shutting down", signum)
        server.shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def _main(args=None):
    """Run the standalone server. Side effects: changes the current directory into
    the document root and configures the root logger."""
    options, args = _parse_args_and_config(args=args)
    os.chdir(options.document_root)
    # With --workers the Rust log forwarding starts in each process, in serve_forever.
    server_util.configure_logging(options, forward_native_logs=(options.workers or 1) <= 1)
    _warn_obsolete_flags(options)
    _setup_cgi(options)
    _check_tls_options(options)
    if not options.scan_dir:
        options.scan_dir = options.websock_handlers
    if options.use_basic_auth:
        options.basic_auth_credential = (
            "Basic " + base64.b64encode(options.basic_auth_credential.encode("UTF-8")).decode()
        )
    try:
        if options.thread_monitor_interval_in_sec > 0:
            ThreadMonitor(options.thread_monitor_interval_in_sec).start()
        server = WebSocketServer(options)
        workers = max(1, options.workers or 1)
        if workers > 1:
            _serve_with_workers(server, workers)
        else:
            _install_signal_handlers(server)
            server.serve_forever(poll_interval=0.2)
            server.server_close()
    except Exception as e:
        logging.critical("pywebsocket3: %s" % e)
        logging.critical("pywebsocket3: %s" % traceback.format_exc())
        sys.exit(1)
    _exit_if_handlers_linger(server)


def _serve_with_workers(server, workers):
    """Fork ``workers - 1`` processes that serve the same listening sockets.

    The parent serves too, forwards SIGTERM/SIGINT to the children and waits for
    them; a child that dies is logged, not restarted.
    """
    logger = logging.getLogger("pywebsocket3.standalone")
    children = []
    parent = os.getpid()
    for _ in range(workers - 1):
        pid = os.fork()
        if pid == 0:
            status = 0
            try:
                _install_signal_handlers(server)
                _stop_when_orphaned(server, parent)
                server.serve_forever(poll_interval=0.2)
            except BaseException:
                logger.critical("worker %d: %s", os.getpid(), traceback.format_exc())
                status = 1
            finally:
                logging.shutdown()
                os._exit(status)
        children.append(pid)
    logger.info("Started %d worker processes: %r", len(children), children)

    def stop(signum, frame):
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        server.shutdown()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.2)
    for pid in children:
        _pid, status = os.waitpid(pid, 0)
        if status:
            logger.warning("worker %d ended with status %d", pid, status)
    server.server_close()


def _stop_when_orphaned(server, parent):
    """A worker whose parent died (even by SIGKILL) shuts down instead of serving on."""

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        logging.getLogger("pywebsocket3.standalone").warning("parent died: shutting down")
        server.shutdown()

    threading.Thread(target=watch, name="ParentWatch", daemon=True).start()


def _exit_if_handlers_linger(server):
    """A handler still running after --shutdown-timeout must not keep the process alive."""
    exit_if_handlers_linger([server])


if __name__ == "__main__":
    _main(sys.argv[1:])


# vi:sts=4 sw=4 et
