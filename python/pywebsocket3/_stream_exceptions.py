"""Exceptions raised by the stream layer (upstream names and hierarchy)."""


class ConnectionTerminatedException(Exception):
    """The connection was terminated unexpectedly."""


class InvalidFrameException(ConnectionTerminatedException):
    """A frame was received that breaks the protocol (close code 1002)."""


class BadOperationException(Exception):
    """An operation that is not allowed in the current state was requested."""


class UnsupportedFrameException(Exception):
    """A frame of an unsupported kind was received."""


class InvalidUTF8Exception(Exception):
    """A text message was not valid UTF-8 (close code 1007)."""


class ProtocolViolationException(InvalidFrameException, UnsupportedFrameException):
    """Reserved bits or an unknown opcode: RFC 6455 closes with 1002 (upstream said 1003).

    It is still an UnsupportedFrameException, so handlers that catch that keep working.
    """


class MessageTooBigException(InvalidFrameException):
    """A message exceeded --max-message-size (close code 1009)."""


# vi:sts=4 sw=4 et
