"""WebSocket opening handshake: tries each supported handshaker (RFC 6455 only)."""

import logging

from pywebsocket3 import common
from pywebsocket3.handshake import hybi
from pywebsocket3.handshake.base import (
    AbortedByUserException,
    HandshakeException,
    VersionException,
)

__all__ = ["AbortedByUserException", "HandshakeException", "VersionException", "do_handshake"]

_LOGGER = logging.getLogger(__name__)


def do_handshake(request, dispatcher, *unused_legacy_args, **unused_legacy_kwargs):
    """Run the opening handshake on ``request``; on success the 101 has been written and
    ``request.ws_stream`` exists.

    mod_pywebsocket's ``allowDraft75`` and ``strict`` arguments are accepted and ignored.
    Raises HandshakeException (with ``status``), VersionException or AbortedByUserException.
    """
    _LOGGER.debug("Client's opening handshake resource: %r", request.uri)
    if _LOGGER.isEnabledFor(logging.DEBUG):
        _LOGGER.debug("Client's opening handshake headers: %r", dict(request.headers_in))

    handshakers = [("RFC 6455", hybi.Handshaker(request, dispatcher))]
    for name, handshaker in handshakers:
        _LOGGER.debug("Trying protocol version %s", name)
        try:
            handshaker.do_handshake()
            _LOGGER.info("Established (%s protocol)", name)
            return
        except HandshakeException as e:
            _LOGGER.debug("Failed to complete opening handshake as %s protocol: %r", name, e)
            if e.status:
                raise
    raise HandshakeException(
        "Failed to complete opening handshake for all available protocols",
        status=common.HTTP_STATUS_BAD_REQUEST,
    )
