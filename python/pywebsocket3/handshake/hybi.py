"""RFC 6455 opening handshake over HTTP/1.1."""

import base64
import binascii
import hashlib
import logging
import re

from pywebsocket3 import _native, common, util
from pywebsocket3.handshake.base import (
    HandshakeException,
    HandshakerBase,
    get_mandatory_header,
    parse_token_list,
    validate_mandatory_header,
)

# 16 bytes in base64: 21 free characters, one whose low 4 bits are zero, then padding.
_SEC_WEBSOCKET_KEY_REGEX = re.compile(r"^[+/0-9A-Za-z]{21}[AQgw]==$")

_UPGRADE_LOWER = common.UPGRADE_CONNECTION_TYPE.lower()

_native_compute_accept = getattr(_native, "compute_accept", None)


def check_request_line(request):
    """The method must be GET and the protocol exactly HTTP/1.1."""
    if request.method != "GET":
        raise HandshakeException("Method is not GET: %r" % request.method)
    if request.protocol != "HTTP/1.1":
        raise HandshakeException("Version is not HTTP/1.1: %r" % request.protocol)


def compute_accept(key):
    """Sec-WebSocket-Accept (bytes) for a Sec-WebSocket-Key (bytes)."""
    if _native_compute_accept is not None:
        return _native_compute_accept(key)
    return base64.b64encode(hashlib.sha1(key + common.WEBSOCKET_ACCEPT_UUID).digest())


def compute_accept_from_unicode(unicode_key):
    return compute_accept(unicode_key.encode("utf-8"))


def format_header(name, value):
    return "%s: %s\r\n" % (name, value)


class Handshaker(HandshakerBase):
    """RFC 6455 handshake for a request object with headers_in and connection.write."""

    def __init__(self, request, dispatcher):
        super().__init__(request, dispatcher)

    def _transform_header(self, header):
        return header

    def _protocol_rfc(self):
        return "RFC 6455"

    def _validate_connection_header(self):
        connection = get_mandatory_header(self._request, common.CONNECTION_HEADER)
        if connection.lower() == _UPGRADE_LOWER:
            return  # The usual single token: the full parse would accept it.
        try:
            tokens = parse_token_list(connection)
        except HandshakeException as e:
            raise HandshakeException(
                "Failed to parse %s: %s" % (common.CONNECTION_HEADER, e)
            ) from e
        wanted = common.UPGRADE_CONNECTION_TYPE.lower()
        if not any(token.lower() == wanted for token in tokens):
            raise HandshakeException(
                '%s header doesn\'t contain "%s"'
                % (common.CONNECTION_HEADER, common.UPGRADE_CONNECTION_TYPE)
            )

    def _validate_request(self):
        check_request_line(self._request)
        validate_mandatory_header(
            self._request, common.UPGRADE_HEADER, common.WEBSOCKET_UPGRADE_TYPE
        )
        self._validate_connection_header()
        get_mandatory_header(self._request, common.HOST_HEADER)

    def _validate_key(self, key):
        """The decoded 16-byte key; HandshakeException for anything else."""
        if "," in key:
            raise HandshakeException(
                "Request has multiple %s header lines or contains illegal character ',': %r"
                % (common.SEC_WEBSOCKET_KEY_HEADER, key)
            )
        # The regex first: b64decode would silently skip characters outside the alphabet.
        if _SEC_WEBSOCKET_KEY_REGEX.match(key):
            try:
                decoded = base64.b64decode(key)
            except (binascii.Error, ValueError):
                decoded = b""
            if len(decoded) == 16:
                return decoded
        raise HandshakeException(
            "Illegal value for header %s: %r" % (common.SEC_WEBSOCKET_KEY_HEADER, key)
        )

    def _get_key(self):
        key = get_mandatory_header(self._request, common.SEC_WEBSOCKET_KEY_HEADER)
        decoded = self._validate_key(key)
        # hexify costs more than the rest of the key check; skip it unless it is logged.
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug(
                "%s: %r (%s)", common.SEC_WEBSOCKET_KEY_HEADER, key, util.hexify(decoded)
            )
        return key.encode("utf-8")

    def _set_accept(self):
        accept = compute_accept(self._get_key())
        self._logger.debug("%s: %r", common.SEC_WEBSOCKET_ACCEPT_HEADER, accept)
        self._request._accept = accept

    def _create_handshake_response(self, accept):
        request = self._request
        lines = [
            "HTTP/1.1 101 Switching Protocols\r\n",
            format_header(common.UPGRADE_HEADER, common.WEBSOCKET_UPGRADE_TYPE),
            format_header(common.CONNECTION_HEADER, common.UPGRADE_CONNECTION_TYPE),
            format_header(common.SEC_WEBSOCKET_ACCEPT_HEADER, accept.decode("utf-8")),
        ]
        if request.ws_protocol is not None:
            lines.append(format_header(common.SEC_WEBSOCKET_PROTOCOL_HEADER, request.ws_protocol))
        if request.ws_extensions:
            lines.append(
                format_header(
                    common.SEC_WEBSOCKET_EXTENSIONS_HEADER,
                    common.format_extensions(request.ws_extensions),
                )
            )
        # Written verbatim, as upstream does (no CRLF filtering).
        for name, value in request.extra_headers:
            lines.append(format_header(name, value))
        lines.append("\r\n")
        return "".join(lines)

    def _send_handshake(self):
        response = self._create_handshake_response(self._request._accept)
        # One write: the whole 101 leaves in one piece.
        self._request.connection.write(response.encode("utf-8"))
        self._logger.debug("Sent server's opening handshake: %r", response)
