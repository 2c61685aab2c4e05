"""WebSocketServer: pywebsocket's server class on the native transport.

The listening sockets, the acceptor, HTTP heads, static files, CGI and TLS live
in the native ``_native.Server``; this class keeps pywebsocket's constructor and
members (``_sockets``, ``server_port``, ``serve_forever``, ``shutdown``,
``server_close``) so programs that embed pywebsocket keep working.

Static files and CGI are served from the process's current directory, as
pywebsocket's ``http.server`` base did (``standalone`` changes into
``--document-root`` first; embedders that do not chdir get their CWD).
"""

import logging
import os
import platform
import re
import socket
import sys
import threading
import traceback

from pywebsocket3 import _aio, _hub, _live_options, _native, channels, dispatch, server_util, util
from pywebsocket3.request_handler import WebSocketRequestHandler

_DEFAULT_REQUEST_QUEUE_SIZE = 128
_DEFAULT_HANDSHAKE_TIMEOUT = 10.0
_DEFAULT_MAX_HEADER_BYTES = 65536
_DEFAULT_SHUTDOWN_TIMEOUT = 5.0
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024


def _alias_handlers(dispatcher, websock_handlers_map_file):
    """Apply the alias map file: lines 'alias_resource existing_resource', '#' comments."""
    with open(websock_handlers_map_file) as map_file:
        for line in map_file:
            if line[0] == "#" or line.isspace():
                continue
            match = re.match(r"(\S+)\s+(\S+)$", line)
            if not match:
                logging.warning("Wrong format in map file:" + line)
                continue
            try:
                dispatcher.add_resource_path_alias(match.group(1), match.group(2))
            except dispatch.DispatchException as e:
                logging.error(str(e))


def _listen_addresses(host, port):
    """(family, host, port) to bind: IPv6 and IPv4 wildcards for '', else getaddrinfo's."""
    if not host:
        return [(socket.AF_INET6, "::", port), (socket.AF_INET, "0.0.0.0", port)]
    addresses = []
    for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(
        host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, socket.IPPROTO_TCP
    ):
        address = (int(family), sockaddr[0], port)
        if address not in addresses:
            addresses.append(address)
    return addresses


def _basic_auth_header(options):
    """The exact Authorization value required, or None when basic auth is off."""
    if not getattr(options, "use_basic_auth", False):
        return None
    credential = getattr(options, "basic_auth_credential", "test:test")
    if credential.startswith("Basic "):
        return credential
    import base64

    return "Basic " + base64.b64encode(credential.encode("utf-8")).decode("ascii")


def _tls_config(options):
    """The TLS part of the native config, or None for plain TCP."""
    if not getattr(options, "use_tls", False):
        return None

    def path(name):
        value = getattr(options, name, "") or ""
        return os.path.abspath(value) if value else ""

    return {
        "private_key": path("private_key"),
        "certificate": path("certificate"),
        "client_auth": bool(getattr(options, "tls_client_auth", False)),
        "client_cert_optional": bool(getattr(options, "tls_client_cert_optional", False)),
        "client_ca": path("tls_client_ca"),
    }


def _trusted_proxies(options):
    """``trusted_proxy`` as a list of strings (one string is accepted as a list of one)."""
    value = getattr(options, "trusted_proxy", None) or []
    if isinstance(value, str):
        return [value]
    return [str(entry) for entry in value]


def _dynamic_config(options):
    """The options that may change while serving (applied with Server.update)."""
    return {
        "basic_auth": _basic_auth_header(options),
        "validation_host": getattr(options, "validation_host", None),
        "validation_port": getattr(options, "validation_port", None),
        "handshake_timeout": float(
            getattr(options, "handshake_timeout", _DEFAULT_HANDSHAKE_TIMEOUT)
        ),
        "max_header_bytes": int(getattr(options, "max_header_bytes", _DEFAULT_MAX_HEADER_BYTES)),
        "max_connections": int(getattr(options, "max_connections", 0) or 0),
        "ping_interval": getattr(options, "ping_interval", None),
        "ping_timeout": getattr(options, "ping_timeout", None),
        "write_coalescing": bool(getattr(options, "write_coalescing", True)),
    }


def _native_config(options):
    """The dict given to ``_native.Server``; every option read with a default.

    Keys: ``addresses`` list of ``(family: int AF_INET/AF_INET6, host: str, port: int)``
    (port 0: the first bind picks it, the others reuse it; a failing bind is skipped);
    ``backlog`` int; ``document_root`` absolute str; ``cgi_paths`` list of URL
    prefixes; ``tls`` None or ``{private_key, certificate, client_auth: bool,
    client_cert_optional: bool, client_ca}`` (absolute paths, '' when unset);
    ``server_name`` the -H value; ``python_version`` str (Server header); ``trusted_proxy``
    list of addresses or CIDR networks (an entry may hold several, comma-separated);
    ``proxy_protocol`` None, 'v1', 'v2' or 'auto' (needs ``trusted_proxy``); and the keys of
    ``_dynamic_config``, which ``Server.update`` receives again when they change:
    ``basic_auth`` None or the exact Authorization value; ``validation_host`` None or
    str; ``validation_port`` None or int; ``handshake_timeout`` float seconds;
    ``max_header_bytes`` int; ``max_connections`` int (0: unlimited);
    ``ping_interval``/``ping_timeout`` None or float seconds; ``write_coalescing`` bool.
    """
    config = {
        "addresses": _listen_addresses(
            getattr(options, "server_host", "") or "", int(getattr(options, "port", 80))
        ),
        "backlog": int(getattr(options, "request_queue_size", _DEFAULT_REQUEST_QUEUE_SIZE)),
        # pywebsocket served static files from the CWD, whatever -d said; static_root
        # (not a pywebsocket option) lets embedders choose without chdir.
        "document_root": os.path.abspath(getattr(options, "static_root", None) or os.getcwd()),
        "cgi_paths": list(getattr(options, "cgi_directories", None) or []),
        "tls": _tls_config(options),
        # connection.local_addr is (server_name, port), as pywebsocket reported it.
        "server_name": getattr(options, "server_host", "") or "",
        "python_version": platform.python_version(),
        "trusted_proxy": _trusted_proxies(options),
        "proxy_protocol": getattr(options, "proxy_protocol", None) or None,
    }
    config.update(_dynamic_config(options))
    return config


def exit_if_handlers_linger(servers):
    """Leave the process at once (standalone, after shutdown) if a handler is still running:
    a handler stuck past --shutdown-timeout must not keep the process alive."""
    lingering = 0
    for server in servers:
        try:
            if server.active_connections():
                server._stop_native()
            lingering += server.active_connections()
        except Exception:
            continue
    if lingering:
        logging.warning("%d handler(s) still running at exit", lingering)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


class WebSocketServer:
    """pywebsocket's WebSocketServer: handlers from ``options``, sockets bound at once."""

    # socketserver attributes pywebsocket's class had; kept for code that reads them.
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, options):
        """Load the handlers, apply the alias map, bind every listening socket."""
        self._logger = util.get_class_logger(self)
        options.dispatcher = dispatch.Dispatcher(
            getattr(options, "websock_handlers", "."),
            getattr(options, "scan_dir", None),
            getattr(options, "allow_handlers_outside_root_dir", True),
            getattr(options, "handler_encoding", None),
        )
        map_file = getattr(options, "websock_handlers_map_file", None)
        if map_file:
            _alias_handlers(options.dispatcher, map_file)
        for warning in options.dispatcher.source_warnings():
            logging.warning("Warning in source loading: %s" % warning)

        self.websocket_server_options = options
        self.request_queue_size = getattr(
            options, "request_queue_size", _DEFAULT_REQUEST_QUEUE_SIZE
        )
        self._config = _native_config(options)
        self._dynamic = _dynamic_config(options)
        self._hub = None
        self._aio = None
        if getattr(options, "event_loop", None):
            _aio.check_event_loop(options.event_loop)
        if getattr(options, "channels_url", None):
            channels.check_url(options.channels_url)
        if getattr(options, "greenlets", False) or options.dispatcher.async_resources():
            # Before binding: a missing package fails first, and the import (slow on a cold
            # cache) does not widen the time between listening and serving.
            _hub.import_greenlet()
        self._on_websocket = WebSocketRequestHandler(self)
        self._native = _native.Server(self._config, self._on_websocket)
        self._resources = None
        self._resources_lock = threading.Lock()
        options.dispatcher.add_resource_listener(self._set_resources)

        self._sockets = []
        for fd in self._native.listener_fds():
            sock = socket.socket(fileno=os.dup(fd))
            addrinfo = (sock.family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sock.getsockname())
            self._logger.info("Listen on: %r", addrinfo)
            self._sockets.append((sock, addrinfo))
        if not self._sockets:
            self._logger.critical("No sockets activated. Use info log level to see the reason.")
        self.server_name = getattr(options, "server_host", "") or ""
        self.server_port = (
            self._sockets[0][0].getsockname()[1] if self._sockets else getattr(options, "port", 0)
        )
        self.server_address = (self.server_name, self.server_port)

        self._state_lock = threading.Lock()
        self._shutdown_request = False
        self._native_stopped = False
        self._serving_thread = None
        self._is_shut_down = threading.Event()
        self._is_shut_down.set()
        # Upstream read the options object per request: assignments apply before they return.
        self._options_lock = threading.Lock()
        self._options_live = _live_options.watch(options, self._apply_option_changes)

    def _set_resources(self, resources):
        """Tell the native router which paths have handlers (only when they changed)."""
        with self._resources_lock:
            if resources != self._resources:
                self._resources = list(resources)
                self._native.set_handler_resources(self._resources)
                dispatcher = self.websocket_server_options.dispatcher
                self._native.set_async_resources(dispatcher.async_resources())

    def _apply_option_changes(self):
        """Options changed on the options object reach the native server.

        Called after every assignment to the options object (``_live_options``) and at each
        serve_forever poll (for objects whose class cannot be swapped, and for changes that
        bypass ``__setattr__``); the lock keeps a stale reading from landing last."""
        options = self.websocket_server_options
        with self._options_lock:
            self._set_resources(list(options.dispatcher._handler_suite_map))
            dynamic = _dynamic_config(options)
            if dynamic != self._dynamic:
                self._dynamic = dynamic
                self._native.update(dynamic)

    def _stop_native(self):
        with self._state_lock:
            if self._native_stopped:
                return
            self._native_stopped = True
        timeout = getattr(
            self.websocket_server_options, "shutdown_timeout", _DEFAULT_SHUTDOWN_TIMEOUT
        )
        self._native.shutdown(float(timeout))
        # Async tasks still running past the timeout (awaiting something else than their
        # WebSocket) are cancelled.
        self._stop_aio()

    def _start_channels(self):
        """``--channels-url``: this process's channels backend (after any --workers fork)."""
        options = self.websocket_server_options
        url = getattr(options, "channels_url", None)
        limit = getattr(options, "channels_queue_limit", None)
        if url or limit:
            channels.configure(url, limit)
        if not url and (getattr(options, "workers", 1) or 1) > 1:
            channels._warn_split_by_workers()

    def _start_hub(self):
        """--greenlets: a hub in this process (after any --workers fork), once."""
        if not getattr(self.websocket_server_options, "greenlets", False):
            return
        if self._hub is not None and self._hub.pid == os.getpid():
            return
        self._hub = _hub.Hub(self._on_websocket)
        self._hub.start()
        self._native.use_hub(self._hub.native)

    def _start_aio(self, loop=None):
        """Async handler files: this process's asyncio loop (after any --workers fork), once.

        ``loop``: serve on a loop the caller runs (``pywebsocket3.serve``) instead of a new
        one on its own thread."""
        if not self.websocket_server_options.dispatcher.async_resources():
            return
        if self._aio is not None and self._aio.pid == os.getpid():
            return
        event_loop = getattr(self.websocket_server_options, "event_loop", None)
        self._aio = _aio.AsyncRunner(self._on_websocket, loop=loop, event_loop=event_loop)
        self._aio.start()
        self._native.use_async(self._aio.queue)

    def _stop_aio(self):
        if self._aio is not None and self._aio.pid == os.getpid():
            self._aio.close()

    def serve_forever(self, poll_interval=0.5):
        """Serve until shutdown(); polls so signal handlers run when called on the main thread."""
        with self._state_lock:
            self._serving_thread = threading.current_thread()
            self._is_shut_down.clear()
        try:
            # Here, not earlier: in this process (after any --workers fork) and also for
            # embedders that never call configure_logging.
            server_util._init_native_logging(logging.getLogger("pywebsocket3").getEffectiveLevel())
            self._apply_option_changes()
            self._start_channels()
            self._start_hub()
            self._start_aio()
            self._native.start()
            while not self._shutdown_request:
                if self._native.wait(poll_interval):
                    break
                try:
                    self._apply_option_changes()
                except Exception:
                    # A bad value set on the options object must not stop the server.
                    self._logger.exception("Ignoring changed options")
            if self._shutdown_request:
                self._stop_native()
        finally:
            with self._state_lock:
                self._serving_thread = None
                # As socketserver: a shutdown() that came before serve_forever still counts.
                self._shutdown_request = False
            self._is_shut_down.set()

    def shutdown(self):
        """Stop serving: open WebSockets get Close 1001 and up to --shutdown-timeout to end.

        From another thread it returns once serve_forever has stopped; from the
        serving thread itself (a signal handler) it only asks the loop to stop.
        """
        with self._state_lock:
            self._shutdown_request = True
            serving = self._serving_thread
        if serving is None or serving is threading.current_thread():
            return
        self._stop_native()
        self._is_shut_down.wait()

    def server_bind(self):
        """Nothing to do: the constructor has bound every socket already."""

    def server_activate(self):
        """Nothing to do: the constructor has made every socket listen already."""

    def server_close(self):
        """Close every listening socket (and the server's own copies)."""
        _live_options.unwatch(self.websocket_server_options, self._apply_option_changes)
        for sock, addrinfo in self._sockets:
            self._logger.info("Close on: %r", addrinfo)
            sock.close()
        self._native.close()
        if self._hub is not None and self._hub.pid == os.getpid():
            self._hub.close()
        self._stop_aio()

    def fileno(self):
        """Not meaningful with several sockets; returns the first one's, as pywebsocket did."""
        self._logger.critical("Not supported: fileno")
        return self._sockets[0][0].fileno()

    def handle_error(self, request, client_address):
        """Log the exception being handled, with its traceback, at ERROR."""
        self._logger.error(
            "Exception in processing request from: %r\n%s",
            client_address,
            traceback.format_exc(),
        )

    def active_connections(self):
        """Number of WebSocket connections whose handler thread is still running."""
        return self._native.active_connections()


# vi:sts=4 sw=4 et
