"""Find the handler for a WebSocket resource and run its hooks.

A handler is a ``*_wsh.py`` file under the handler root. Each file is executed
once, when the Dispatcher is built, into a fresh globals dict, and must define
``web_socket_do_extra_handshake(request)`` and
``web_socket_transfer_data(request)``; ``web_socket_passive_closing_handshake``
is optional. The resource of ``<root>/a/b_wsh.py`` is ``/a/b``.

Differences from pywebsocket: handler sources are compiled with their real file
name, so tracebacks point into the handler; with no ``handler_encoding`` a
PEP 263 coding cookie is honoured and UTF-8 is the default (pywebsocket used
the locale's encoding).
"""

import io
import os
import re
import tokenize
import traceback

from pywebsocket3 import _aio, common, handshake, msgutil, stream, util
from pywebsocket3._stream_exceptions import MessageTooBigException

_SOURCE_PATH_PATTERN = re.compile(r"(?i)_wsh\.py$")
_SOURCE_SUFFIX = "_wsh.py"
_DO_EXTRA_HANDSHAKE_HANDLER_NAME = "web_socket_do_extra_handshake"
_TRANSFER_DATA_HANDLER_NAME = "web_socket_transfer_data"
_PASSIVE_CLOSING_HANDSHAKE_HANDLER_NAME = "web_socket_passive_closing_handshake"


class DispatchException(Exception):
    """Dispatching a WebSocket request failed; ``status`` is the HTTP status to answer."""

    def __init__(self, name, status=common.HTTP_STATUS_NOT_FOUND):
        super().__init__(name)
        self.status = status


def _default_passive_closing_handshake_handler(request):
    """Reply to a client's Close with 1000 and no reason."""
    return common.STATUS_NORMAL_CLOSURE, ""


def _normalize_path(path):
    """Absolute, symlink-resolved path with '/' separators (either separator accepted)."""
    path = path.replace("\\", os.path.sep)
    return os.path.realpath(path).replace("\\", "/")


def _create_path_to_resource_converter(base_dir):
    """A function mapping a handler file path under ``base_dir`` to its resource, else None."""
    base = _normalize_path(base_dir)

    def converter(path):
        if not path.endswith(_SOURCE_SUFFIX):
            return None
        # No realpath here: a symlinked handler keeps the resource of its link.
        path = path.replace("\\", "/")
        if not path.startswith(base):
            return None
        return path[len(base) : -len(_SOURCE_SUFFIX)]

    return converter


def _enumerate_handler_file_paths(directory):
    """Yield every path under ``directory`` whose name ends in _wsh.py (any case)."""
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            if _SOURCE_PATH_PATTERN.search(path):
                yield path


class _HandlerSuite:
    """The three hooks of one handler file."""

    def __init__(self, do_extra_handshake, transfer_data, passive_closing_handshake):
        # An async file (`async def` hooks) is served on the asyncio loop (_aio); the blocking
        # flow calls its coroutine hooks through wrappers that await them there.
        self.is_async = _aio.is_async_suite(do_extra_handshake, transfer_data)
        self.do_extra_handshake = _aio.blocking_hook(do_extra_handshake, "handshake")
        self.transfer_data = _aio.blocking_hook(transfer_data, "transfer")
        self.passive_closing_handshake = _aio.blocking_hook(passive_closing_handshake, "passive")


def _decode_source(data, handler_encoding=None):
    """Handler source bytes as text: the given encoding, else the coding cookie, else UTF-8."""
    if handler_encoding is not None:
        return data.decode(handler_encoding)
    encoding, _lines = tokenize.detect_encoding(io.BytesIO(data).readline)
    if encoding == "utf-8-sig":
        return data.decode("utf-8-sig")
    return data.decode(encoding)


def _source_handler_file(handler_definition, filename="<string>"):
    """Execute one handler's source (str or bytes) and return its _HandlerSuite.

    Raises DispatchException when the source fails to run or a mandatory hook is
    missing or not callable.
    """
    global_dic = {}
    try:
        if isinstance(handler_definition, (bytes, bytearray)):
            handler_definition = _decode_source(bytes(handler_definition))
        code = compile(handler_definition, filename, "exec", dont_inherit=True)
        exec(code, global_dic)
    except Exception:
        raise DispatchException("Error in sourcing handler:" + traceback.format_exc())
    try:
        passive = _extract_handler(global_dic, _PASSIVE_CLOSING_HANDSHAKE_HANDLER_NAME)
    except DispatchException:
        passive = _default_passive_closing_handshake_handler
    return _HandlerSuite(
        _extract_handler(global_dic, _DO_EXTRA_HANDSHAKE_HANDLER_NAME),
        _extract_handler(global_dic, _TRANSFER_DATA_HANDLER_NAME),
        passive,
    )


def _extract_handler(dic, name):
    """The callable named ``name`` in ``dic``, else DispatchException."""
    if name not in dic:
        raise DispatchException("%s is not defined." % name)
    handler = dic[name]
    if not callable(handler):
        raise DispatchException("%s is not callable." % name)
    return handler


class Dispatcher:
    """Maps resources to handler suites and runs them; shared by all connections."""

    def __init__(
        self,
        root_dir,
        scan_dir=None,
        allow_handlers_outside_root_dir=True,
        handler_encoding=None,
    ):
        """Load every handler under ``scan_dir`` (default ``root_dir``), which must lie
        inside ``root_dir``; resources are relative to ``root_dir``."""
        self._logger = util.get_class_logger(self)
        self._handler_suite_map = {}
        self._source_warnings = []
        self._resource_listeners = []
        if scan_dir is None:
            scan_dir = root_dir
        # A plain prefix test, as pywebsocket does ('/a/bc' passes for '/a/b').
        if not os.path.realpath(scan_dir).startswith(os.path.realpath(root_dir)):
            raise DispatchException(
                "scan_dir:%s must be a directory under root_dir:%s." % (scan_dir, root_dir)
            )
        self._source_handler_files_in_dir(
            root_dir, scan_dir, allow_handlers_outside_root_dir, handler_encoding
        )

    def add_resource_listener(self, listener):
        """Call ``listener(resources)`` now and whenever the set of resources changes."""
        self._resource_listeners.append(listener)
        listener(list(self._handler_suite_map))

    def async_resources(self):
        """The resources whose handler file is async (served on the asyncio loop)."""
        return [resource for resource, suite in self._handler_suite_map.items() if suite.is_async]

    def _notify_resource_listeners(self):
        for listener in self._resource_listeners:
            listener(list(self._handler_suite_map))

    def add_resource_path_alias(self, alias_resource_path, existing_resource_path):
        """Serve ``alias_resource_path`` with the handler of ``existing_resource_path``."""
        try:
            suite = self._handler_suite_map[existing_resource_path]
        except KeyError:
            raise DispatchException("No handler for: %r" % existing_resource_path)
        self._handler_suite_map[alias_resource_path] = suite
        self._notify_resource_listeners()

    def source_warnings(self):
        """Messages about handler files that could not be loaded."""
        return self._source_warnings

    def do_extra_handshake(self, request):
        """Run the handler's web_socket_do_extra_handshake.

        AbortedByUserException passes through; any other exception becomes a
        HandshakeException with status 403.
        """
        suite = self.get_handler_suite(request.ws_resource)
        if suite is None:
            raise DispatchException("No handler for: %r" % request.ws_resource)
        try:
            suite.do_extra_handshake(request)
        except handshake.AbortedByUserException:
            self._logger.debug("%s", traceback.format_exc())
            raise
        except Exception as e:
            util.prepend_message_to_exception(
                "%s raised exception for %s: "
                % (_DO_EXTRA_HANDSHAKE_HANDLER_NAME, request.ws_resource),
                e,
            )
            raise handshake.HandshakeException(e, common.HTTP_STATUS_FORBIDDEN)

    def transfer_data(self, request):
        """Run the handler's web_socket_transfer_data and close the way its ending asks.

        A normal return sends Close 1000 (and waits for the reply) unless the server
        already closed; the stream exceptions map to their close codes; anything
        else is re-raised with the resource in its message.
        """
        try:
            suite = self.get_handler_suite(request.ws_resource)
            if suite is None:
                raise DispatchException("No handler for: %r" % request.ws_resource)
            suite.transfer_data(request)
        except _aio.TransferInTask:
            raise
        except BaseException as e:
            self.end_transfer(request, e)
        else:
            self.end_transfer(request, None)

    def end_transfer(self, request, error):
        """The close that the end of web_socket_transfer_data asks for: ``error`` is what it
        raised, or None when it returned (async handlers run it in their task, then here)."""
        try:
            if error is not None:
                raise error
            if not request.server_terminated:
                _aio.blocking_stream(request).close_connection()
        except handshake.AbortedByUserException:
            self._logger.debug("%s", traceback.format_exc())
            raise
        except msgutil.BadOperationException as e:
            self._logger.debug("%s", e)
            _aio.blocking_stream(request).close_connection(common.STATUS_INTERNAL_ENDPOINT_ERROR)
        except MessageTooBigException as e:
            # Before InvalidFrameException, its parent; the peer may still be sending.
            self._logger.debug("%s", e)
            _aio.blocking_stream(request).close_connection(
                common.STATUS_MESSAGE_TOO_BIG, wait_response=False
            )
        except msgutil.InvalidFrameException as e:
            # Before ConnectionTerminatedException, its parent. Includes
            # ProtocolViolationException (reserved bits, unknown opcode): 1002.
            self._logger.debug("%s", e)
            _aio.blocking_stream(request).close_connection(common.STATUS_PROTOCOL_ERROR)
        except msgutil.UnsupportedFrameException as e:
            self._logger.debug("%s", e)
            _aio.blocking_stream(request).close_connection(common.STATUS_UNSUPPORTED_DATA)
        except stream.InvalidUTF8Exception as e:
            self._logger.debug("%s", e)
            _aio.blocking_stream(request).close_connection(common.STATUS_INVALID_FRAME_PAYLOAD_DATA)
        except msgutil.ConnectionTerminatedException as e:
            self._logger.debug("%s", e)
        except Exception as e:
            util.prepend_message_to_exception(
                "%s raised exception for %s: " % (_TRANSFER_DATA_HANDLER_NAME, request.ws_resource),
                e,
            )
            raise

    def passive_closing_handshake(self, request):
        """The (code, reason) to answer a client-initiated Close with."""
        suite = self.get_handler_suite(request.ws_resource)
        if suite is None:
            return _default_passive_closing_handshake_handler(request)
        return suite.passive_closing_handshake(request)

    def get_handler_suite(self, resource):
        """The _HandlerSuite for ``resource`` (query and fragment ignored), or None.

        A fragment on a resource that has a handler raises DispatchException(400).
        """
        fragment = None
        if "#" in resource:
            resource, fragment = resource.split("#", 1)
        if "?" in resource:
            resource = resource.split("?", 1)[0]
        suite = self._handler_suite_map.get(resource)
        if suite and fragment:
            raise DispatchException(
                "Fragment identifiers MUST NOT be used on WebSocket URIs",
                common.HTTP_STATUS_BAD_REQUEST,
            )
        return suite

    def _source_handler_files_in_dir(
        self, root_dir, scan_dir, allow_handlers_outside_root_dir, handler_encoding
    ):
        """Load every handler file under ``scan_dir``; resources relative to ``root_dir``."""
        convert = _create_path_to_resource_converter(root_dir)
        scan_realpath = os.path.realpath(scan_dir)
        root_realpath = os.path.realpath(root_dir)
        for path in _enumerate_handler_file_paths(scan_realpath):
            if not allow_handlers_outside_root_dir and not os.path.realpath(path).startswith(
                root_realpath
            ):
                self._logger.debug("Canonical path of %s is not under root directory", path)
                continue
            try:
                with open(path, "rb") as handler_file:
                    data = handler_file.read()
                source = _decode_source(data, handler_encoding)
                suite = _source_handler_file(source, path)
            except DispatchException as e:
                self._source_warnings.append("%s: %s" % (path, e))
                continue
            except (OSError, UnicodeDecodeError, LookupError, SyntaxError) as e:
                # Unreadable or undecodable files are reported like broken ones.
                self._source_warnings.append(
                    "%s: %s" % (path, DispatchException("Error in sourcing handler:%r" % (e,)))
                )
                continue
            resource = convert(path)
            if resource is None:
                self._logger.debug("Path to resource conversion on %s failed", path)
            else:
                self._handler_suite_map[resource] = suite


# vi:sts=4 sw=4 et
