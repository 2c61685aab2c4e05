"""The per-connection WebSocket flow, run on one handler thread per connection.

The native server reads the HTTP head, checks basic auth and the absolute-URI
host/port, serves static files and CGI, and hands every request whose path maps
to a handler resource to :class:`WebSocketRequestHandler` on a new OS thread.
From there the flow is pywebsocket's ``WebSocketRequestHandler.parse_request``:
handler lookup, ``handshake.do_handshake`` (which writes the 101 through
``request.connection``), then ``dispatcher.transfer_data``.
"""

import email.utils
import http
import http.client
import platform
import time

from pywebsocket3 import _native, common, dispatch, handshake, util
from pywebsocket3.handshake.base import class_logger

# http.server's Server header for the responses it would have written itself.
_SERVER_SOFTWARE = "SimpleHTTP/0.6 Python/" + platform.python_version()


class _StandaloneRequest:
    """The request object handlers see: mod_python's request, as pywebsocket imitates it.

    ``uri``/``unparsed_uri`` are the raw request path including ``?query`` and
    ``#fragment``; ``headers_in`` is an ``http.client.HTTPMessage``; handlers may
    set any attribute.
    """

    def __init__(self, connection, head, use_tls):
        self._logger = class_logger(self)
        self.connection = connection
        self._use_tls = bool(use_tls)
        self.uri = head.path
        self.unparsed_uri = head.path
        self.method = head.method
        self.protocol = head.protocol
        self.headers_in = _headers_message(head.headers)

    def is_https(self):
        """True when the server runs with --tls."""
        return self._use_tls


def _headers_message(pairs):
    """An HTTPMessage holding ``pairs`` in order, without re-parsing the head."""
    message = http.client.HTTPMessage()
    # email.message.Message keeps raw (name, value) pairs here; parsing adds nothing.
    message._headers.extend(pairs)
    return message


def _version_error_response(supported_versions):
    """What http.server's send_response(400) + the version header + end_headers write."""
    return (
        "HTTP/1.0 400 Bad Request\r\n"
        "Server: %s\r\n"
        "Date: %s\r\n"
        "%s: %s\r\n"
        "\r\n"
        % (
            _SERVER_SOFTWARE,
            email.utils.formatdate(time.time(), usegmt=True),
            common.SEC_WEBSOCKET_VERSION_HEADER,
            supported_versions,
        )
    ).encode("latin-1")


class WebSocketRequestHandler:
    """Callable given to the native server: ``handler(connection, head)`` per connection."""

    def __init__(self, server):
        self._server = server
        self._logger = util.get_class_logger(self)

    def __call__(self, connection, head):
        requestline = "%s %s %s" % (head.method, head.path, head.protocol)
        try:
            self._handle(connection, head, requestline)
        except Exception:
            self._handle_error(connection)

    def end_transfer(self, connection, request, error):
        """The rest of ``__call__`` once an async transfer hook ran in its task (``_aio``):
        ``error`` is what the hook raised, or None."""
        try:
            try:
                request._dispatcher.end_transfer(request, error)
            except handshake.AbortedByUserException as e:
                self._logger.info("Aborted: %s", e)
        except Exception:
            self._handle_error(connection)

    def _handle_error(self, connection):
        try:
            address = connection.remote_addr
        except Exception:
            address = None
        self._server.handle_error(None, address)

    def _handle(self, connection, head, requestline):
        options = self._server.websocket_server_options
        dispatcher = options.dispatcher
        try:
            suite = dispatcher.get_handler_suite(head.path)
        except dispatch.DispatchException as e:
            self._logger.info("Dispatch failed for error: %s", e)
            self._send_error(connection, requestline, e.status)
            return
        if suite is None:
            # The resource vanished between routing and now; nothing else can serve it.
            self._logger.info("No handler for resource: %r", head.path)
            self._send_error(connection, requestline, common.HTTP_STATUS_NOT_FOUND)
            return

        request = _StandaloneRequest(connection, head, getattr(options, "use_tls", False))
        request._max_message_size = getattr(options, "max_message_size", None)
        try:
            try:
                handshake.do_handshake(request, dispatcher)
            except handshake.VersionException as e:
                self._logger.info("Handshake failed for version error: %s", e)
                self._log_request(connection, requestline, common.HTTP_STATUS_BAD_REQUEST)
                connection.write(_version_error_response(e.supported_versions))
                return
            except handshake.HandshakeException as e:
                self._logger.info("Handshake failed for error: %s", e)
                self._send_error(
                    connection, requestline, e.status or common.HTTP_STATUS_BAD_REQUEST
                )
                return
            self._log_request(connection, requestline, 101)
            request._dispatcher = dispatcher
            dispatcher.transfer_data(request)
        except handshake.AbortedByUserException as e:
            self._logger.info("Aborted: %s", e)

    def _send_error(self, connection, requestline, status):
        """http.server's send_error: a warning line, an access line, the HTML page."""
        self._logger.warning("%s - code %d, message %s", _host(connection), status, _phrase(status))
        self._log_request(connection, requestline, status)
        connection.write(_native.http_error_response(status))

    def _log_request(self, connection, requestline, code, size="-"):
        """http.server's access line; behind a --trusted-proxy, the client's address first."""
        if getattr(self._server.websocket_server_options, "trusted_proxy", None):
            self._logger.info('%s - "%s" %s %s', _host(connection), requestline, code, size)
        else:
            self._logger.info('"%s" %s %s', requestline, code, size)


def _phrase(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _host(connection):
    try:
        return connection.remote_addr[0]
    except Exception:
        return "-"


# vi:sts=4 sw=4 et
