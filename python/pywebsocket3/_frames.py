"""Single-frame helpers (upstream's public ``stream`` functions), for handlers and clients
that build or parse raw frames. ``stream`` re-exports every name here.
"""

import os
import struct

from pywebsocket3 import _native, common, util
from pywebsocket3._stream_exceptions import BadOperationException


class Frame:
    """One frame's header bits and payload."""

    def __init__(self, fin=1, rsv1=0, rsv2=0, rsv3=0, opcode=None, payload=b""):
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3
        self.opcode = opcode
        self.payload = payload


def create_length_header(length, mask):
    """The second byte (mask bit and length) plus any extended length. ValueError if bad."""
    mask_bit = 0x80 if mask else 0
    if length < 0:
        raise ValueError("length must be non negative integer")
    if length <= 125:
        return util.pack_byte(mask_bit | length)
    if length < (1 << 16):
        return util.pack_byte(mask_bit | 126) + struct.pack("!H", length)
    if length < (1 << 63):
        return util.pack_byte(mask_bit | 127) + struct.pack("!Q", length)
    raise ValueError("Payload is too big for one frame")


def create_header(opcode, payload_length, fin, rsv1, rsv2, rsv3, mask):
    """A frame header (without masking key). ValueError for out-of-range fields."""
    if opcode < 0 or opcode > 0xF:
        raise ValueError("Opcode out of range")
    if payload_length < 0 or payload_length >= (1 << 63):
        raise ValueError("payload_length out of range")
    if (fin | rsv1 | rsv2 | rsv3) & ~1:
        raise ValueError("FIN bit and Reserved bit parameter must be 0 or 1")
    first_byte = (fin << 7) | (rsv1 << 6) | (rsv2 << 5) | (rsv3 << 4) | opcode
    return util.pack_byte(first_byte) + create_length_header(payload_length, mask)


def _build_frame(header, body, mask):
    if not mask:
        return header + body
    masking_key = os.urandom(4)
    return header + masking_key + util.RepeatedXorMasker(masking_key).mask(body)


def _filter_and_format_frame_object(frame, mask, frame_filters):
    for frame_filter in frame_filters:
        frame_filter.filter(frame)
    header = create_header(
        frame.opcode, len(frame.payload), frame.fin, frame.rsv1, frame.rsv2, frame.rsv3, mask
    )
    return _build_frame(header, frame.payload, mask)


def create_binary_frame(message, opcode=common.OPCODE_BINARY, fin=1, mask=False, frame_filters=()):
    """One frame carrying ``message`` (bytes) as is."""
    frame = Frame(fin=fin, opcode=opcode, payload=message)
    return _filter_and_format_frame_object(frame, mask, frame_filters)


def create_text_frame(message, opcode=common.OPCODE_TEXT, fin=1, mask=False, frame_filters=()):
    """One frame carrying ``message`` (str) encoded as UTF-8."""
    return create_binary_frame(message.encode("utf-8"), opcode, fin, mask, frame_filters)


def _create_control_frame(opcode, body, mask, frame_filters):
    frame = Frame(opcode=opcode, payload=body)
    for frame_filter in frame_filters:
        frame_filter.filter(frame)
    if len(frame.payload) > 125:
        raise BadOperationException("Payload data size of control frames must be 125 bytes or less")
    header = create_header(
        frame.opcode, len(frame.payload), frame.fin, frame.rsv1, frame.rsv2, frame.rsv3, mask
    )
    return _build_frame(header, frame.payload, mask)


def create_ping_frame(body, mask=False, frame_filters=()):
    return _create_control_frame(common.OPCODE_PING, body, mask, frame_filters)


def create_pong_frame(body, mask=False, frame_filters=()):
    return _create_control_frame(common.OPCODE_PONG, body, mask, frame_filters)


def create_close_frame(body, mask=False, frame_filters=()):
    return _create_control_frame(common.OPCODE_CLOSE, body, mask, frame_filters)


def create_closing_handshake_body(code, reason):
    """The Close payload: 2-byte code plus UTF-8 reason, or empty when ``code`` is None.

    Codes outside 1000-4999 and the reserved 1005, 1006 and 1015 raise BadOperationException.
    """
    if code is None:
        return b""
    if code < common.STATUS_NORMAL_CLOSURE or code > common.STATUS_USER_PRIVATE_MAX:
        raise BadOperationException("Status code is out of range")
    if code in (
        common.STATUS_NO_STATUS_RECEIVED,
        common.STATUS_ABNORMAL_CLOSURE,
        common.STATUS_TLS_HANDSHAKE,
    ):
        raise BadOperationException("Status code is reserved pseudo code")
    if reason is None:
        reason = b""
    elif isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + bytes(reason)


def parse_frame(
    receive_bytes, logger=None, ws_version=common.VERSION_HYBI_LATEST, unmask_receive=True
):
    """Read one frame through ``receive_bytes(n)``; ``(opcode, payload, fin, rsv1, rsv2, rsv3)``.

    The payload is unmasked. InvalidFrameException when the mask bit does not match
    ``unmask_receive`` or a 64-bit length has its top bit set. ``logger`` and ``ws_version``
    are accepted for compatibility.
    """
    return _native.parse_frame(receive_bytes, unmask_receive)


class FragmentedFrameBuilder:
    """Builds the frames of a message sent in parts (first frame typed, then continuations)."""

    def __init__(self, mask, frame_filters=(), encode_utf8=True):
        self._mask = mask
        self._frame_filters = frame_filters
        self._encode_utf8 = encode_utf8
        self._started = False
        self._opcode = common.OPCODE_TEXT

    def build(self, payload_data, end, binary):
        frame_type = common.OPCODE_BINARY if binary else common.OPCODE_TEXT
        if self._started:
            if self._opcode != frame_type:
                raise ValueError("Message types are different in frames for the same message")
            opcode = common.OPCODE_CONTINUATION
        else:
            opcode = frame_type
            self._opcode = frame_type
        self._started = not end
        fin = 1 if end else 0
        if binary or not self._encode_utf8:
            return create_binary_frame(payload_data, opcode, fin, self._mask, self._frame_filters)
        return create_text_frame(payload_data, opcode, fin, self._mask, self._frame_filters)
