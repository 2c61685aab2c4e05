#!/usr/bin/env python3
"""Atheris target: Sec-WebSocket-Extensions and Sec-WebSocket-Protocol parsing.

A header value either parses or raises the parser's own exception; what parses formats back
to a value that parses to the same thing; the permessage-deflate processor answers any
parsed offer with a response or None, never an exception.
"""

import os
import site
import sys

import atheris

if os.environ.get("PYWEBSOCKET_SITE"):
    site.addsitedir(os.environ["PYWEBSOCKET_SITE"])

with atheris.instrument_imports():
    from pywebsocket3 import common, extensions, http_header_util
    from pywebsocket3.handshake.base import HandshakeException, parse_token_list


def _as_tuples(parsed):
    return [(extension.name(), extension.get_parameters()) for extension in parsed]


def check_extensions(value):
    try:
        parsed = common.parse_extensions(value)
    except common.ExtensionParsingException:
        return
    assert parsed, "an empty list is refused"
    formatted = common.format_extensions(parsed)
    assert _as_tuples(common.parse_extensions(formatted)) == _as_tuples(parsed), formatted
    for offer in parsed:
        processor = extensions.get_extension_processor(offer)
        if processor is None:
            continue
        response = processor.get_extension_response()
        if response is not None:
            common.parse_extensions(common.format_extension(response))


def check_protocols(value):
    try:
        tokens = parse_token_list(value)
    except HandshakeException:
        return
    assert tokens
    for token in tokens:
        assert all(http_header_util._is_token_char(c) for c in token), token


def test_one_input(data):
    provider = atheris.FuzzedDataProvider(data)
    # Header values are latin-1 text (http.client decodes them so).
    value = provider.ConsumeBytes(provider.remaining_bytes()).decode("latin-1")
    check_extensions(value)
    check_protocols(value)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
