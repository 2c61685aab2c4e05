#!/usr/bin/env python3
"""Atheris target: the handler alias map file (--websock-handlers-map-file) and the decoding
of handler sources (dispatch._decode_source).

Any map file gives aliases made of two non-blank words, each to a known resource or logged
as an error; any handler bytes decode or raise one of the errors the dispatcher reports as
a source warning.
"""

import logging
import os
import site
import sys
import tempfile

import atheris

if os.environ.get("PYWEBSOCKET_SITE"):
    site.addsitedir(os.environ["PYWEBSOCKET_SITE"])

with atheris.instrument_imports():
    from pywebsocket3 import dispatch, websocket_server

logging.disable(logging.CRITICAL)
KNOWN_RESOURCES = {"/echo", "/chat", "/é"}
MAP_FILE = os.path.join(tempfile.mkdtemp(prefix="handler-map-fuzz-"), "handler_map.txt")


class RecordingDispatcher:
    """The one Dispatcher method the map file reaches, with a fixed set of resources."""

    def __init__(self):
        self.aliases = []

    def add_resource_path_alias(self, alias, existing):
        if existing not in KNOWN_RESOURCES:
            raise dispatch.DispatchException("No handler for: %r" % existing)
        self.aliases.append((alias, existing))


def check_map_file(content):
    with open(MAP_FILE, "wb") as map_file:
        map_file.write(content)
    recorder = RecordingDispatcher()
    try:
        websocket_server._alias_handlers(recorder, MAP_FILE)
    except UnicodeDecodeError:
        # A map file that is not in the locale's encoding stops the start-up with a traceback.
        return
    for alias, existing in recorder.aliases:
        assert alias and not any(c.isspace() for c in alias), alias
        assert existing in KNOWN_RESOURCES


def check_decode_source(source):
    try:
        text = dispatch._decode_source(source)
    except (UnicodeDecodeError, LookupError, SyntaxError):
        return
    assert isinstance(text, str)


def test_one_input(data):
    provider = atheris.FuzzedDataProvider(data)
    half = provider.ConsumeIntInRange(0, len(data))
    check_map_file(provider.ConsumeBytes(half))
    check_decode_source(provider.ConsumeBytes(provider.remaining_bytes()))


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
