"""Protocol constants and the Sec-WebSocket-Extensions grammar (RFC 6455, RFC 2616 lists).

Both generations of names are kept: pywebsocket3's, and the mod_pywebsocket ones
(hixie/hybi versions, old header and extension names) that old handlers still import.
"""

from pywebsocket3 import http_header_util

# A logging level below DEBUG for per-frame tracing.
LOGLEVEL_FINE = 9

# Protocol versions. Only 13 is spoken; the rest exist so old imports keep working.
VERSION_HIXIE75 = -1
VERSION_HYBI00 = 0
VERSION_HYBI01 = 1
VERSION_HYBI02 = 2
VERSION_HYBI03 = 2
VERSION_HYBI04 = 4
VERSION_HYBI05 = 5
VERSION_HYBI06 = 6
VERSION_HYBI07 = 7
VERSION_HYBI08 = 8
VERSION_HYBI09 = 8
VERSION_HYBI10 = 8
VERSION_HYBI11 = 8
VERSION_HYBI12 = 8
VERSION_HYBI13 = 13
VERSION_HYBI14 = 13
VERSION_HYBI15 = 13
VERSION_HYBI16 = 13
VERSION_HYBI17 = 13
VERSION_HYBI_LATEST = VERSION_HYBI13

DEFAULT_WEB_SOCKET_PORT = 80
DEFAULT_WEB_SOCKET_SECURE_PORT = 443

WEB_SOCKET_SCHEME = "ws"
WEB_SOCKET_SECURE_SCHEME = "wss"

OPCODE_CONTINUATION = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA

WEBSOCKET_ACCEPT_UUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

UPGRADE_HEADER = "Upgrade"
WEBSOCKET_UPGRADE_TYPE = "websocket"
WEBSOCKET_UPGRADE_TYPE_HIXIE75 = "WebSocket"
CONNECTION_HEADER = "Connection"
UPGRADE_CONNECTION_TYPE = "Upgrade"
HOST_HEADER = "Host"
ORIGIN_HEADER = "Origin"
SEC_WEBSOCKET_ORIGIN_HEADER = "Sec-WebSocket-Origin"
SEC_WEBSOCKET_KEY_HEADER = "Sec-WebSocket-Key"
SEC_WEBSOCKET_ACCEPT_HEADER = "Sec-WebSocket-Accept"
SEC_WEBSOCKET_VERSION_HEADER = "Sec-WebSocket-Version"
SEC_WEBSOCKET_PROTOCOL_HEADER = "Sec-WebSocket-Protocol"
SEC_WEBSOCKET_EXTENSIONS_HEADER = "Sec-WebSocket-Extensions"
SEC_WEBSOCKET_DRAFT_HEADER = "Sec-WebSocket-Draft"
SEC_WEBSOCKET_KEY1_HEADER = "Sec-WebSocket-Key1"
SEC_WEBSOCKET_KEY2_HEADER = "Sec-WebSocket-Key2"
SEC_WEBSOCKET_LOCATION_HEADER = "Sec-WebSocket-Location"

PERMESSAGE_DEFLATE_EXTENSION = "permessage-deflate"
DEFLATE_FRAME_EXTENSION = "deflate-frame"
X_WEBKIT_DEFLATE_FRAME_EXTENSION = "x-webkit-deflate-frame"
MUX_EXTENSION = "mux_DO_NOT_USE"

STATUS_NORMAL_CLOSURE = 1000
STATUS_GOING_AWAY = 1001
STATUS_PROTOCOL_ERROR = 1002
STATUS_UNSUPPORTED_DATA = 1003
STATUS_NO_STATUS_RECEIVED = 1005
STATUS_ABNORMAL_CLOSURE = 1006
STATUS_INVALID_FRAME_PAYLOAD_DATA = 1007
STATUS_POLICY_VIOLATION = 1008
STATUS_MESSAGE_TOO_BIG = 1009
STATUS_MANDATORY_EXTENSION = 1010
STATUS_INTERNAL_ENDPOINT_ERROR = 1011
STATUS_TLS_HANDSHAKE = 1015
STATUS_USER_REGISTERED_BASE = 3000
STATUS_USER_REGISTERED_MAX = 3999
STATUS_USER_PRIVATE_BASE = 4000
STATUS_USER_PRIVATE_MAX = 4999

# Deprecated spellings of the codes above.
STATUS_NORMAL = STATUS_NORMAL_CLOSURE
STATUS_UNSUPPORTED = STATUS_UNSUPPORTED_DATA
STATUS_CODE_NOT_AVAILABLE = STATUS_NO_STATUS_RECEIVED
STATUS_ABNORMAL_CLOSE = STATUS_ABNORMAL_CLOSURE
STATUS_INVALID_FRAME_PAYLOAD = STATUS_INVALID_FRAME_PAYLOAD_DATA
STATUS_MANDATORY_EXT = STATUS_MANDATORY_EXTENSION

HTTP_STATUS_BAD_REQUEST = 400
HTTP_STATUS_FORBIDDEN = 403
HTTP_STATUS_NOT_FOUND = 404


def is_control_opcode(opcode):
    """True for close, ping, pong and the reserved control opcodes 0xB-0xF."""
    return (opcode >> 3) == 1


class ExtensionParameter:
    """One element of a Sec-WebSocket-Extensions list: a name and ordered parameters."""

    def __init__(self, name):
        self._name = name
        # A list, not a dict: order is significant and names may repeat in an offer.
        self._parameters = []

    def name(self):
        return self._name

    def add_parameter(self, name, value):
        """Append a parameter; ``value`` None means the parameter has no value."""
        self._parameters.append((name, value))

    def get_parameters(self):
        return self._parameters

    def get_parameter_names(self):
        return [name for name, _ in self._parameters]

    def has_parameter(self, name):
        return any(param_name == name for param_name, _ in self._parameters)

    def get_parameter_value(self, name):
        """The value of the first parameter called ``name`` (None if absent or valueless)."""
        for param_name, value in self._parameters:
            if param_name == name:
                return value
        return None

    def __repr__(self):
        return "ExtensionParameter(%r, %r)" % (self._name, self._parameters)


class ExtensionParsingException(Exception):
    """The Sec-WebSocket-Extensions value does not follow the grammar."""

    def __init__(self, name):
        super().__init__(name)


def _parse_extension_param(state, extension):
    name = http_header_util.consume_token(state)
    if name is None:
        raise ExtensionParsingException("No valid parameter name found")
    http_header_util.consume_lwses(state)
    if not http_header_util.consume_string(state, "="):
        extension.add_parameter(name, None)
        return
    http_header_util.consume_lwses(state)
    value = http_header_util.consume_token_or_quoted_string(state)
    if value is None:
        raise ExtensionParsingException(
            "No valid parameter value found on the right-hand side of parameter %r" % name
        )
    extension.add_parameter(name, value)


def _parse_extension(state):
    name = http_header_util.consume_token(state)
    if name is None:
        return None
    extension = ExtensionParameter(name)
    while True:
        http_header_util.consume_lwses(state)
        if not http_header_util.consume_string(state, ";"):
            return extension
        http_header_util.consume_lwses(state)
        try:
            _parse_extension_param(state, extension)
        except ExtensionParsingException as e:
            raise ExtensionParsingException(
                "Failed to parse parameter for %r (%r)" % (name, e)
            ) from None


def parse_extensions(data):
    """Parse a Sec-WebSocket-Extensions value into a list of ExtensionParameter.

    Empty list elements are skipped; leading LWS must already be trimmed.
    Raises ExtensionParsingException on bad syntax or when no extension is found.
    """
    state = http_header_util.ParsingState(data)
    extensions = []
    while True:
        extension = _parse_extension(state)
        if extension is not None:
            extensions.append(extension)
        http_header_util.consume_lwses(state)
        if http_header_util.peek(state) is None:
            break
        if not http_header_util.consume_string(state, ","):
            raise ExtensionParsingException(
                "Failed to parse Sec-WebSocket-Extensions header: Expected a comma but found %r"
                % http_header_util.peek(state)
            )
        http_header_util.consume_lwses(state)
    if not extensions:
        raise ExtensionParsingException("No valid extension entry found")
    return extensions


def format_extension(extension):
    """``name; param; param=value`` with values quoted only when they must be."""
    parts = [extension.name()]
    for name, value in extension.get_parameters():
        if value is None:
            parts.append(name)
        else:
            parts.append("%s=%s" % (name, http_header_util.quote_if_necessary(value)))
    return "; ".join(parts)


def format_extensions(extension_list):
    return ", ".join(format_extension(extension) for extension in extension_list)
