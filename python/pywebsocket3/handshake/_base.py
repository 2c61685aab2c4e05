"""mod_pywebsocket's name for the handshake helpers: base plus hybi's request-line helpers."""

from pywebsocket3.handshake.base import *  # noqa: F403
from pywebsocket3.handshake.base import (  # noqa: F401
    _SUPPORTED_VERSIONS,
    _VERSION_LATEST,
    _VERSION_LATEST_STRING,
    AbortedByUserException,
    HandshakeException,
    HandshakerBase,
    VersionException,
    get_default_port,
    get_mandatory_header,
    parse_host_header,
    parse_token_list,
    validate_mandatory_header,
    validate_subprotocol,
)
from pywebsocket3.handshake.hybi import check_request_line, format_header  # noqa: F401
