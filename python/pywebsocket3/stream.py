"""WebSocket frames and the message stream (RFC 6455).

``Stream`` keeps pywebsocket's API and request attributes, but the protocol itself (framing,
masking, fragmentation, UTF-8 checks, permessage-deflate, size limits) runs in the native
``Engine``; this class only turns its events into upstream's close/ping/pong behaviour.
The single-frame helpers live in ``_frames`` and are re-exported here, as upstream had them.
"""

import codecs
import struct
from collections import deque

from pywebsocket3 import _aio, _native, common, util
from pywebsocket3._frames import (  # noqa: F401 (re-exported)
    FragmentedFrameBuilder,
    Frame,
    _build_frame,
    _create_control_frame,
    _filter_and_format_frame_object,
    create_binary_frame,
    create_close_frame,
    create_closing_handshake_body,
    create_header,
    create_length_header,
    create_ping_frame,
    create_pong_frame,
    create_text_frame,
    parse_frame,
)
from pywebsocket3._stream_exceptions import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    InvalidUTF8Exception,
    UnsupportedFrameException,
)

__all__ = [
    "BadOperationException",
    "ConnectionTerminatedException",
    "FragmentedFrameBuilder",
    "Frame",
    "InvalidFrameException",
    "InvalidUTF8Exception",
    "Stream",
    "StreamOptions",
    "UnsupportedFrameException",
    "create_binary_frame",
    "create_close_frame",
    "create_closing_handshake_body",
    "create_header",
    "create_length_header",
    "create_ping_frame",
    "create_pong_frame",
    "create_text_frame",
    "parse_frame",
]

# Largest message accepted when nothing else is configured (MessageTooBigException above).
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024

_OPCODE_TEXT = common.OPCODE_TEXT
_OPCODE_BINARY = common.OPCODE_BINARY
_OPCODE_CLOSE = common.OPCODE_CLOSE
_OPCODE_PING = common.OPCODE_PING
_OPCODE_PONG = common.OPCODE_PONG


class StreamOptions:
    """Settings for a Stream. Extensions record themselves here (see extensions.py)."""

    def __init__(self):
        # Kept for code that inspects or appends to them; the native engine does the work,
        # so filters other than the deflate markers are not applied.
        self.outgoing_frame_filters = []
        self.incoming_frame_filters = []
        self.outgoing_message_filters = []
        self.incoming_message_filters = []
        self.encode_text_message_to_utf8 = True
        self.mask_send = False
        self.unmask_receive = True
        self.max_message_size = DEFAULT_MAX_MESSAGE_SIZE
        # The permessage-deflate framer negotiated for this stream, if any.
        self._deflate = None


def _remote_addr(connection):
    try:
        return connection.remote_addr
    except Exception:
        return None


class Stream(_native.StreamCore):
    """The message API over ``request.connection`` (any object with read(n)/write(bytes)).

    State lives on the request as upstream has it: ``client_terminated``,
    ``server_terminated``, ``ws_close_code``, ``ws_close_reason``, and the optional
    ``on_ping_handler`` / ``on_pong_handler`` / ``_dispatcher``.

    ``receive_message`` and ``send_message`` come from the native base (no Python frame per
    message); it calls back into the methods below for everything but the common case.
    """

    def __init__(self, request, options):
        self._logger = util.get_class_logger(self)
        self._options = options
        self._request = request
        request.client_terminated = False
        request.server_terminated = False
        self._engine = _native.Engine(
            request.connection,
            mask_send=bool(options.mask_send),
            unmask_receive=bool(options.unmask_receive),
            max_message_size=getattr(options, "max_message_size", DEFAULT_MAX_MESSAGE_SIZE),
        )
        self._attach_engine(self._engine)
        deflate = getattr(options, "_deflate", None)
        if deflate is not None:
            deflate._attach_engine(self._engine)
        # Pings sent and not yet ponged; a deque from the first ping on (idle connections are
        # many, and an empty deque costs 600 bytes).
        self._ping_queue = ()
        # Only used when a text message is given as bytes (see _send_message_general).
        self._text_bytes_decoder = None

    # ------------------------------------------------------------------ raw I/O

    def _prefix_write_error(self, error):
        prefix = "Failed to send message to %r: " % (_remote_addr(self._request.connection),)
        if isinstance(error, OSError) and error.strerror:
            # str(OSError) shows errno and strerror, not args.
            error.strerror = prefix + error.strerror
        util.prepend_message_to_exception(prefix, error)

    def _write(self, bytes_to_write):
        """Raw bytes, in order with frames; errors get the remote address prepended."""
        try:
            self._engine.write(bytes_to_write)
        except Exception as e:
            self._prefix_write_error(e)
            raise

    def _read(self, length):
        """``length`` raw bytes; ConnectionTerminatedException at EOF or on a socket error."""
        try:
            return self._engine.read(length)
        except OSError as e:
            raise ConnectionTerminatedException(
                "Receiving %d byte failed. IOError (%s) occurred" % (length, e)
            ) from e

    def receive_bytes(self, length):
        """Exactly ``length`` raw bytes from the connection (after any buffered frame data)."""
        return self._read(length)

    def _read_until(self, delim_char):
        """Raw bytes up to (not including) ``delim_char``, read one byte at a time."""
        read_bytes = []
        while True:
            ch = self._read(1)
            if ch == delim_char:
                return b"".join(read_bytes)
            read_bytes.append(ch)

    # ------------------------------------------------------------------ frames

    def _receive_frame(self):
        """One raw frame, unmasked: ``(opcode, payload, fin, rsv1, rsv2, rsv3)``."""
        return self._engine.receive_frame()

    def _receive_frame_as_frame_object(self):
        opcode, payload, fin, rsv1, rsv2, rsv3 = self._receive_frame()
        return Frame(fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3, opcode=opcode, payload=payload)

    def _get_message_from_frame(self, frame):
        """Feed one frame to message assembly; the whole message payload (bytes) once
        complete, else None. Control frames complete at once."""
        event = self._engine.process_frame(
            frame.opcode, frame.payload, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3
        )
        if event is None:
            return None
        opcode, payload = event
        self._original_opcode = opcode
        if isinstance(payload, str):
            return payload.encode("utf-8")
        return payload

    def receive_filtered_frame(self):
        """For tests: one unfragmented text or binary frame, decompressed, as a Frame."""
        frame = self._receive_frame_as_frame_object()
        if not frame.fin:
            raise InvalidFrameException(
                "Segmented frames must not be received via receive_filtered_frame()"
            )
        if frame.opcode not in (_OPCODE_TEXT, _OPCODE_BINARY):
            raise InvalidFrameException(
                "Control frames must not be received via receive_filtered_frame()"
            )
        payload = self._get_message_from_frame(frame)
        return Frame(fin=1, opcode=frame.opcode, payload=payload)

    # ------------------------------------------------------------------ messages

    # receive_message() and send_message(message, end=True, binary=False) are native
    # (StreamCore); the two methods below are where send_message comes back to Python.

    def _send_message_general(self, message, end, binary):
        """send_message for what is not binary bytes or text str.

        Leniency: bytes given as text (what Python 2 handlers did) are sent as a text frame
        when they are valid UTF-8; upstream 4.x raised AttributeError there.
        """
        if binary:
            if isinstance(message, str):
                raise BadOperationException(
                    "Message for binary frame must not be instance of Unicode"
                )
        else:
            message = self._text_bytes(message, end)
        try:
            self._engine.send_message(message, end, binary)
        except Exception as e:
            self._send_failed(e)

    def _send_failed(self, error):
        """Raise a failed send's error as upstream shows it."""
        if isinstance(error, BadOperationException):
            raise error
        if isinstance(error, ValueError):
            raise BadOperationException(error) from error
        self._prefix_write_error(error)
        raise error

    def _text_bytes(self, message, end):
        if isinstance(message, str):
            return message.encode("utf-8")
        message = bytes(message)
        if self._text_bytes_decoder is None:
            self._text_bytes_decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            self._text_bytes_decoder.decode(message, final=end)
        except UnicodeDecodeError as e:
            self._text_bytes_decoder = None
            raise BadOperationException("Text message is not valid UTF-8: %s" % e) from e
        if end:
            self._text_bytes_decoder = None
        return message

    def _process_close_message(self, message):
        """Record the peer's Close and, unless we closed first, reply with the passive hook's
        (code, reason) or (1000, '')."""
        request = self._request
        request.client_terminated = True
        if len(message) == 0:
            request.ws_close_code = common.STATUS_NO_STATUS_RECEIVED
        elif len(message) == 1:
            raise InvalidFrameException(
                "If a close frame has status code, the length of status code must be 2 octet"
            )
        else:
            request.ws_close_code = struct.unpack("!H", message[0:2])[0]
            request.ws_close_reason = bytes(message[2:]).decode("utf-8", "replace")
        self._logger.debug(
            "Received close frame (code=%r, reason=%r)",
            request.ws_close_code,
            getattr(request, "ws_close_reason", None),
        )
        if request.server_terminated:
            self._logger.debug("Received ack for server-initiated closing handshake")
            return
        code = common.STATUS_NORMAL_CLOSURE
        reason = ""
        dispatcher = getattr(request, "_dispatcher", None)
        if dispatcher is not None:
            code, reason = dispatcher.passive_closing_handshake(request)
            if code is None and reason:
                self._logger.warning("Handler specified reason despite code being None")
                reason = ""
            if reason is None:
                reason = ""
        self._send_closing_handshake(code, reason)
        self._logger.debug(
            "Acknowledged closing handshake initiated by the peer (code=%r, reason=%r)",
            code,
            reason,
        )

    def _process_ping_message(self, message):
        handler = getattr(self._request, "on_ping_handler", None)
        if handler:
            _aio.call_control_handler(handler, self._request, message)
            return
        self._send_pong(message)

    def _process_pong_message(self, message):
        # Pings still waiting for their pong keep their order; a pong matching none is
        # unsolicited and leaves the queue as it was.
        skipped = deque()
        while self._ping_queue:
            expected = self._ping_queue.popleft()
            if expected == message:
                self._logger.debug(
                    "Ping %r is acked (%d pings were ignored)", expected, len(skipped)
                )
                break
            skipped.append(expected)
        else:
            self._ping_queue = skipped
            self._logger.debug("Received a unsolicited pong")
        handler = getattr(self._request, "on_pong_handler", None)
        if handler:
            _aio.call_control_handler(handler, self._request, message)

    # ------------------------------------------------------------------ control frames

    def _send_control(self, opcode, body):
        try:
            self._engine.send_frame(opcode, body)
        except BadOperationException:
            raise
        except Exception as e:
            self._prefix_write_error(e)
            raise

    def _send_closing_handshake(self, code, reason):
        body = create_closing_handshake_body(code, reason)
        if len(body) > 125:
            raise BadOperationException(
                "Payload data size of control frames must be 125 bytes or less"
            )
        self._request.server_terminated = True
        self._send_control(_OPCODE_CLOSE, body)

    def close_connection(self, code=common.STATUS_NORMAL_CLOSURE, reason="", wait_response=True):
        """Send a Close and, except for 1001/1002 or ``wait_response=False``, wait for the
        peer's Close. A data message instead of it raises ConnectionTerminatedException."""
        if self._initiate_close(code, reason, wait_response):
            self._check_close_answer(self.receive_message())

    @staticmethod
    def _check_close_answer(message):
        """What close_connection received after its Close: anything but a Close raises."""
        if message is not None:
            raise ConnectionTerminatedException("Didn't receive valid ack for closing handshake")

    def _initiate_close(self, code, reason, wait_response):
        """close_connection up to the wait: True when the peer's Close is then awaited."""
        if self._request.server_terminated:
            self._logger.debug("Requested close_connection but server is already terminated")
            return False
        if code is None:
            if reason is not None and len(reason) > 0:
                raise BadOperationException("close reason must not be specified if code is None")
            reason = ""
        elif not isinstance(reason, (bytes, str)):
            raise BadOperationException("close reason must be an instance of bytes or unicode")
        self._send_closing_handshake(code, reason)
        self._logger.debug("Initiated closing handshake (code=%r, reason=%r)", code, reason)
        return not (
            code in (common.STATUS_GOING_AWAY, common.STATUS_PROTOCOL_ERROR)
            or not wait_response
            or self._request.client_terminated
        )

    def send_ping(self, body="", binary=False):
        """Send a Ping (str bodies are UTF-8 encoded) and remember it for pong matching."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        else:
            body = bytes(body)
        if len(body) > 125:
            raise BadOperationException(
                "Payload data size of control frames must be 125 bytes or less"
            )
        self._send_control(_OPCODE_PING, body)
        if not self._ping_queue:
            self._ping_queue = deque()
        self._ping_queue.append(body)

    def _send_pong(self, body):
        self._send_control(_OPCODE_PONG, body)

    def get_last_received_opcode(self):
        """The opcode of the message the last received frame belonged to."""
        return self._original_opcode
