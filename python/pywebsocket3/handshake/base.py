"""Opening handshake: exceptions, header helpers and HandshakerBase.

HandshakerBase runs the protocol-independent part of the handshake; subclasses say how
headers are named and validated and how the response is sent. ``hybi.Handshaker`` is
RFC 6455 over HTTP/1.1; embedders subclass the base for RFC 8441 (HTTP/2).
"""

from pywebsocket3 import common, http_header_util, util
from pywebsocket3.extensions import get_extension_processor
from pywebsocket3.stream import Stream, StreamOptions

_VERSION_LATEST = common.VERSION_HYBI_LATEST
_VERSION_LATEST_STRING = str(_VERSION_LATEST)
_SUPPORTED_VERSIONS = [_VERSION_LATEST]


class AbortedByUserException(Exception):
    """Raised by a handler to drop the connection: no response in the extra handshake,
    no closing handshake during data transfer."""


class HandshakeException(Exception):
    """The opening handshake failed; ``status`` is the HTTP status to answer (None: 400)."""

    def __init__(self, name, status=None):
        super().__init__(name)
        self.status = status


class VersionException(Exception):
    """Unsupported Sec-WebSocket-Version; answered 400 with the supported versions."""

    def __init__(self, name, supported_versions=""):
        super().__init__(name)
        self.supported_versions = supported_versions


def get_default_port(is_secure):
    if is_secure:
        return common.DEFAULT_WEB_SOCKET_SECURE_PORT
    return common.DEFAULT_WEB_SOCKET_PORT


def validate_subprotocol(subprotocol):
    """A subprotocol must be one non-empty HTTP token (RFC 6455 4.1); else HandshakeException."""
    if not subprotocol:
        raise HandshakeException("Invalid subprotocol name: empty")
    state = http_header_util.ParsingState(subprotocol)
    http_header_util.consume_token(state)
    rest = http_header_util.peek(state)
    if rest is not None:
        raise HandshakeException("Invalid non-token string in subprotocol name: %r" % rest)


def parse_host_header(request):
    """``(host, port)`` from the Host header, with the scheme's default port."""
    fields = request.headers_in[common.HOST_HEADER].split(":", 1)
    if len(fields) == 1:
        return fields[0], get_default_port(request.is_https())
    try:
        return fields[0], int(fields[1])
    except ValueError as e:
        raise HandshakeException("Invalid port number format: %r" % e) from e


def get_mandatory_header(request, key):
    value = request.headers_in.get(key)
    if value is None:
        raise HandshakeException("Header %s is not defined" % key)
    return value


def validate_mandatory_header(request, key, expected_value, fail_status=None):
    """The header must be present and equal ``expected_value`` ignoring case."""
    value = get_mandatory_header(request, key)
    if value.lower() != expected_value.lower():
        raise HandshakeException(
            "Expected %r for header %s but found %r (case-insensitive)"
            % (expected_value, key, value),
            status=fail_status,
        )


def parse_token_list(data):
    """Parse a ``1#token`` header value (empty elements allowed); HandshakeException if bad."""
    state = http_header_util.ParsingState(data)
    tokens = []
    while True:
        token = http_header_util.consume_token(state)
        if token is not None:
            tokens.append(token)
        http_header_util.consume_lwses(state)
        if http_header_util.peek(state) is None:
            break
        if not http_header_util.consume_string(state, ","):
            raise HandshakeException("Expected a comma but found %r" % http_header_util.peek(state))
        http_header_util.consume_lwses(state)
    if not tokens:
        raise HandshakeException("No valid token found")
    return tokens


_CLASS_LOGGERS = {}


def class_logger(obj):
    """util.get_class_logger, looked up once per class (it is the same logger every time)."""
    cls = type(obj)
    logger = _CLASS_LOGGERS.get(cls)
    if logger is None:
        logger = _CLASS_LOGGERS[cls] = util.get_class_logger(obj)
    return logger


class HandshakerBase:
    """The opening handshake sequence. Subclasses implement the five methods that raise
    AssertionError here; the rest can be overridden one step at a time."""

    def __init__(self, request, dispatcher):
        self._logger = class_logger(self)
        self._request = request
        self._dispatcher = dispatcher

    # ---------------------------------------------------------- for subclasses

    def _protocol_rfc(self):
        """The RFC the subclass implements, for logging."""
        raise AssertionError("subclasses should implement this method")

    def _transform_header(self, header):
        """The header name as the request stores it (HTTP/2 lowercases it)."""
        raise AssertionError("subclasses should implement this method")

    def _validate_request(self):
        """Check the method, protocol and mandatory headers."""
        raise AssertionError("subclasses should implement this method")

    def _set_accept(self):
        """Validate the key and compute ``request._accept`` if the protocol has one."""
        raise AssertionError("subclasses should implement this method")

    def _send_handshake(self):
        """Send the successful response."""
        raise AssertionError("subclasses should implement this method")

    # ---------------------------------------------------------- the sequence

    def do_handshake(self):
        request = self._request
        request.ws_close_code = None
        request.ws_close_reason = None

        # Failures up to here have no status, so do_handshake may try another handshaker.
        self._validate_request()
        request.ws_resource = request.uri
        request.ws_version = self._check_version()

        try:
            self._get_origin()
            self._set_protocol()
            self._parse_extensions()
            self._set_accept()
            self._logger.debug("Protocol version is %s", self._protocol_rfc())

            request.ws_extension_processors = self._get_extension_processors_requested()
            # The extra handshake may append (name, value) pairs for the response.
            request.extra_headers = []

            self._dispatcher.do_extra_handshake(request)

            stream_options = self._create_stream_options()
            self._process_extensions(stream_options)
            request.ws_stream = self._create_stream(stream_options)

            self._check_subprotocol()
            self._send_handshake()
        except HandshakeException as e:
            if not e.status:
                e.status = common.HTTP_STATUS_BAD_REQUEST
            raise

    def _check_version(self):
        header = self._transform_header(common.SEC_WEBSOCKET_VERSION_HEADER)
        version = get_mandatory_header(self._request, header)
        if version == _VERSION_LATEST_STRING:
            return _VERSION_LATEST
        if "," in version:
            raise HandshakeException(
                "Multiple versions (%r) are not allowed for header %s" % (version, header),
                status=common.HTTP_STATUS_BAD_REQUEST,
            )
        raise VersionException(
            "Unsupported version %r for header %s" % (version, header),
            supported_versions=", ".join(str(v) for v in _SUPPORTED_VERSIONS),
        )

    def _get_origin(self):
        origin = self._request.headers_in.get(self._transform_header(common.ORIGIN_HEADER))
        if origin is None:
            self._logger.debug("Client request does not have origin header")
        self._request.ws_origin = origin

    def _set_protocol(self):
        self._request.ws_protocol = None
        header = self._transform_header(common.SEC_WEBSOCKET_PROTOCOL_HEADER)
        value = self._request.headers_in.get(header)
        if value is None:
            self._request.ws_requested_protocols = None
            return
        self._request.ws_requested_protocols = parse_token_list(value)
        self._logger.debug("Subprotocols requested: %r", self._request.ws_requested_protocols)

    def _parse_extensions(self):
        header = self._transform_header(common.SEC_WEBSOCKET_EXTENSIONS_HEADER)
        value = self._request.headers_in.get(header)
        if not value:
            self._request.ws_requested_extensions = None
            return
        try:
            self._request.ws_requested_extensions = common.parse_extensions(value)
        except common.ExtensionParsingException as e:
            raise HandshakeException(
                "Failed to parse sec-websocket-extensions header: %r" % e
            ) from e
        self._logger.debug(
            "Extensions requested: %r",
            [extension.name() for extension in self._request.ws_requested_extensions],
        )

    def _get_extension_processors_requested(self):
        processors = []
        for offer in self._request.ws_requested_extensions or ():
            processor = get_extension_processor(offer)
            # Unknown extensions are ignored.
            if processor is not None:
                processors.append(processor)
        return processors

    def _create_stream_options(self):
        stream_options = StreamOptions()
        # The server puts its --max-message-size here; embedders' requests lack it.
        max_message_size = getattr(self._request, "_max_message_size", None)
        if max_message_size is not None:
            stream_options.max_message_size = max_message_size
        return stream_options

    def _process_extensions(self, stream_options):
        processors = [p for p in self._request.ws_extension_processors if p is not None]
        # Later processors first, so the first one has the final say.
        for processor in reversed(processors):
            if processor.is_active():
                processor.check_consistency_with_other_processors(processors)
        processors = [p for p in processors if p.is_active()]

        accepted = []
        for index, processor in enumerate(processors):
            if not processor.is_active():
                continue
            response = processor.get_extension_response()
            if response is None:
                continue
            accepted.append(response)
            processor.setup_stream_options(stream_options)
            # Every processor is a compression one: only the first accepted may run.
            for later in processors[index + 1 :]:
                later.set_active(False)

        if accepted:
            self._request.ws_extensions = accepted
            self._logger.debug(
                "Extensions accepted: %r", [extension.name() for extension in accepted]
            )
        else:
            self._request.ws_extensions = None

    def _create_stream(self, stream_options):
        return Stream(self._request, stream_options)

    def _check_subprotocol(self):
        request = self._request
        if request.ws_requested_protocols is not None:
            if request.ws_protocol is None:
                raise HandshakeException(
                    "do_extra_handshake must choose one subprotocol from "
                    "ws_requested_protocols and set it to ws_protocol"
                )
            validate_subprotocol(request.ws_protocol)
            self._logger.debug("Subprotocol accepted: %r", request.ws_protocol)
        elif request.ws_protocol is not None:
            raise HandshakeException(
                "ws_protocol must be None when the client didn't request any subprotocol"
            )
