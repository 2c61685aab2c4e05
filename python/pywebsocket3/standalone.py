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
``--shutdown-timeout``, ``--no-write-coalescing``, ``--workers``,
``--trusted-proxy`` and ``--proxy-protocol`` (see the README's Deploying section). SIGTERM and
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

import base64  # noqa: E402
import configparser  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

from pywebsocket3 import server_util, util  # noqa: E402
from pywebsocket3._options import _build_option_parser, _flags  # noqa: E402, F401
from pywebsocket3.server_util import (  # noqa: E402, F401
    ThreadMonitor,
    _get_logger_from_class,
)
from pywebsocket3.server_util import configure_logging as _configure_logging  # noqa: E402, F401
from pywebsocket3.websocket_server import (  # noqa: E402
    WebSocketServer,
    exit_if_handlers_linger,
)

__all__ = ["WebSocketServer", "_build_option_parser", "_parse_args_and_config", "_main"]


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


class _StopOnSignal:
    """Turns SIGTERM/SIGINT into shutdown().

    Installed before the server binds: a signal that comes as soon as the port
    listens must stop the server, not kill the process with the default action.
    Signal handlers can only be set on the main thread; elsewhere this does nothing.
    """

    def __init__(self):
        self._actions = []
        self._signalled = False

    def install(self):
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)

    def add(self, action):
        """Run ``action`` on a signal; at once if a signal came already."""
        self._actions.append(action)
        if self._signalled:
            action()

    def _stop(self, signum, frame):
        logging.getLogger("pywebsocket3.standalone").info("Signal %d: shutting down", signum)
        self._signalled = True
        for action in list(self._actions):
            action()


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
    stopper = _StopOnSignal()
    stopper.install()
    try:
        if options.thread_monitor_interval_in_sec > 0:
            ThreadMonitor(options.thread_monitor_interval_in_sec).start()
        server = WebSocketServer(options)
        stopper.add(server.shutdown)
        workers = max(1, options.workers or 1)
        if workers > 1:
            _serve_with_workers(server, workers, stopper)
        else:
            server.serve_forever(poll_interval=0.2)
            server.server_close()
    except Exception as e:
        logging.critical("pywebsocket3: %s" % e)
        logging.critical("pywebsocket3: %s" % traceback.format_exc())
        sys.exit(1)
    _exit_if_handlers_linger(server)


def _serve_with_workers(server, workers, stopper):
    """Fork ``workers - 1`` processes that serve the same listening sockets.

    The parent serves too, forwards SIGTERM/SIGINT to the children and waits for
    them; a child that dies is logged, not restarted. Each child inherits
    ``stopper`` as it was before the parent added the forwarding.
    """
    logger = logging.getLogger("pywebsocket3.standalone")
    children = []
    parent = os.getpid()
    for _ in range(workers - 1):
        pid = os.fork()
        if pid == 0:
            status = 0
            try:
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

    def stop_children():
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    stopper.add(stop_children)
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
