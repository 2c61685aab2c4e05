"""Small helpers: logging names, byte formatting, masking, and zlib wrappers.

The deflate classes here are the upstream helper API (tests and clients use them); the
server's own permessage-deflate runs in the native engine.
"""

import hashlib
import logging
import os
import re
import struct
import traceback
import zlib

from pywebsocket3 import _native

# XOR in native code when the extension provides it (it always should; this keeps imports safe).
_native_mask = getattr(_native, "mask", None)


def get_stack_trace():
    """The traceback of the exception being handled, as a string (old mod_pywebsocket API)."""
    return traceback.format_exc()


def prepend_message_to_exception(message, exc):
    """Replace the exception's args by ``message`` followed by its current text."""
    exc.args = (message + str(exc),)


def _translate_interp(interp, cygwin_path):
    # Win32 Python cannot run "/usr/bin/perl"; point it at the Cygwin binary directory.
    if not cygwin_path:
        return interp
    match = re.match(r"^[^ ]*/([^ ]+)( .*)?", interp)
    if match:
        return os.path.join(cygwin_path, match.group(1)) + (match.group(2) or "")
    return interp


def get_script_interp(script_path, cygwin_path=None):
    """The ``#!`` command line of a script (translated for Cygwin), or None."""
    with open(script_path) as script:
        first_line = script.readline()
    match = re.match(r"^#!(.*)", first_line)
    if match:
        return _translate_interp(match.group(1), cygwin_path)
    return None


def wrap_popen3_for_win(cygwin_path):
    """Old Windows helper that patched os.popen3; os.popen3 no longer exists, so a no-op."""
    popen3 = getattr(os, "popen3", None)
    if popen3 is None:
        return

    def _popen3_with_interp(cmd, mode="t", bufsize=-1):
        args = cmd.split(" ")
        interp = get_script_interp(args[0], cygwin_path)
        if interp:
            cmd = interp + " " + cmd
        return popen3(cmd, mode, bufsize)

    os.popen3 = _popen3_with_interp


def sha1_hash(data=b""):
    """A hashlib SHA-1 object over ``data`` (old mod_pywebsocket API)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha1(data)


def hexify(s):
    """``b'\\x01\\xff'`` -> ``'01 ff'``."""
    return " ".join("%02x" % b for b in bytes(s))


def get_class_logger(o):
    """The logger named ``<module>.<class>`` of an object."""
    cls = o.__class__
    return logging.getLogger("%s.%s" % (cls.__module__, cls.__name__))


def pack_byte(b):
    return struct.pack("!B", b)


class NoopMasker:
    """A masker that leaves data unchanged (same interface as RepeatedXorMasker)."""

    def __init__(self):
        pass

    def mask(self, s):
        return s


class RepeatedXorMasker:
    """XOR with a repeating key, continuing where the previous call stopped."""

    def __init__(self, masking_key):
        self._masking_key = bytes(masking_key)
        self._masking_key_index = 0

    def mask(self, s):
        if isinstance(s, str):
            raise Exception("Masking Operation should not process unicode strings")
        data = bytes(s)
        key = self._masking_key
        start = self._masking_key_index
        if len(key) == 4 and _native_mask is not None:
            result = _native_mask(key, data, start)
        else:
            # The native helper takes 4-byte keys (the only size WebSocket uses).
            result = bytes(b ^ key[(start + i) % len(key)] for i, b in enumerate(data))
        self._masking_key_index = (self._masking_key_index + len(data)) % len(key)
        return result


class _Deflater:
    """Raw DEFLATE with CPython's zlib defaults, the settings the wire format tests pin."""

    def __init__(self, window_bits):
        self._logger = get_class_logger(self)
        # zlib refuses a raw window of 8; 9 keeps distances short enough for an 8-bit peer.
        self._compress = zlib.compressobj(
            zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -max(window_bits, 9)
        )

    def compress(self, data):
        result = self._compress.compress(data)
        self._logger.debug("Compress input %r", data)
        self._logger.debug("Compress result %r", result)
        return result

    def compress_and_flush(self, data):
        result = self._compress.compress(data) + self._compress.flush(zlib.Z_SYNC_FLUSH)
        self._logger.debug("Compress input %r", data)
        self._logger.debug("Compress result %r", result)
        return result

    def compress_and_finish(self, data):
        result = self._compress.compress(data) + self._compress.flush(zlib.Z_FINISH)
        self._logger.debug("Compress input %r", data)
        self._logger.debug("Compress result %r", result)
        return result


class _Inflater:
    """Raw INFLATE over appended chunks; a finished stream followed by more data starts anew."""

    def __init__(self, window_bits):
        self._logger = get_class_logger(self)
        self._window_bits = window_bits
        self._unconsumed = b""
        self.reset()

    def decompress(self, size):
        """Up to ``size`` bytes of output (-1: everything available)."""
        if not (size == -1 or size > 0):
            raise Exception("size must be -1 or positive")
        data = b""
        while True:
            limit = 0 if size == -1 else max(0, size - len(data))
            if size != -1 and limit == 0:
                break
            data += self._decompress.decompress(self._unconsumed, limit)
            self._unconsumed = self._decompress.unconsumed_tail
            unused = self._decompress.unused_data
            if not unused:
                break
            # A BFINAL block ended the stream; what follows is a new stream.
            self._unconsumed = unused
            self.reset()
            if size != -1 and len(data) == size:
                break
        if data:
            self._logger.debug("Decompressed %r", data)
        return data

    def append(self, data):
        self._logger.debug("Appended %r", data)
        self._unconsumed += data

    def reset(self):
        self._logger.debug("Reset")
        self._decompress = zlib.decompressobj(-self._window_bits)


class _RFC1979Deflater:
    """Per-message compression with the RFC 1979 sync-flush tail stripped at message end."""

    def __init__(self, window_bits, no_context_takeover):
        self._deflater = None
        self._window_bits = zlib.MAX_WBITS if window_bits is None else window_bits
        self._no_context_takeover = no_context_takeover

    def filter(self, data, end=True, bfinal=False):
        if self._deflater is None:
            self._deflater = _Deflater(self._window_bits)
        if bfinal:
            # Finish the stream and add an empty stored block header with BFINAL=0.
            result = self._deflater.compress_and_finish(data) + pack_byte(0)
            self._deflater = None
            return result
        result = self._deflater.compress_and_flush(data)
        if end:
            result = result[:-4]
            if self._no_context_takeover:
                self._deflater = None
        return result


class _RFC1979Inflater:
    """Inverse of _RFC1979Deflater: restores the stripped ``00 00 ff ff`` before inflating."""

    def __init__(self, window_bits=zlib.MAX_WBITS):
        self._inflater = _Inflater(window_bits)

    def filter(self, data):
        self._inflater.append(data + b"\x00\x00\xff\xff")
        return self._inflater.decompress(-1)


class DeflateSocket:
    """A socket wrapper that deflates what is sent and inflates what is received."""

    _RECV_SIZE = 4096

    def __init__(self, socket):
        self._socket = socket
        self._logger = get_class_logger(self)
        self._deflater = _Deflater(zlib.MAX_WBITS)
        self._inflater = _Inflater(zlib.MAX_WBITS)

    def recv(self, size):
        """Block until some inflated data is available and return up to ``size`` bytes."""
        if size <= 0:
            raise Exception("Non-positive size passed")
        while True:
            data = self._inflater.decompress(size)
            if data:
                return data
            received = self._socket.recv(DeflateSocket._RECV_SIZE)
            if not received:
                return b""
            self._inflater.append(received)

    def sendall(self, data):
        self.send(data)

    def send(self, data):
        self._socket.sendall(self._deflater.compress_and_flush(data))
        return len(data)
