"""Channels: publish/subscribe between WebSocket connections, for handlers of every kind.

A handler subscribes its connection to named channels; anything published to a channel (by
any handler, thread or task, or by a plain Python process when Redis is configured) reaches
every member as a WebSocket message, written by the native delivery thread::

    from pywebsocket3 import channels

    def web_socket_transfer_data(request):
        channels.subscribe(request, "chat")
        while True:
            message = request.ws_stream.receive_message()
            if message is None:
                return
            channels.publish("chat", message)

Every function here returns at once (none waits on a socket or on Redis), so blocking,
greenlet and ``async def`` handlers call them alike, without ``await``.

Backends: in-process (the default: members of this process only) or Redis
(``--channels-url redis://HOST:PORT/DB``, or :func:`configure`), which reaches every
process and server sharing that Redis, ``--workers`` included.

Delivery is at most once and in order per publisher. A member whose socket stays full gets a
bounded queue (``queue_limit`` bytes, 1 MiB by default); past it the member is sent Close
1008 ("channel member too slow") and its connection is shut (at once if the Close went out,
else after 5 seconds), so it never holds up the others.
A member that disconnects leaves every channel. Messages published while Redis is down are
lost (and logged as such); delivery resumes once it is back.
"""

import atexit
import logging

from pywebsocket3 import _native

__all__ = [
    "configure",
    "flush",
    "members",
    "publish",
    "stats",
    "subscribe",
    "unsubscribe",
]


def _connection(request):
    """The native connection of a handler's request (or the connection itself)."""
    connection = getattr(request, "connection", request)
    # An async handler's request.connection wraps the native one (pywebsocket3._aio).
    connection = getattr(connection, "_connection", connection)
    if not isinstance(connection, _native.Connection):
        raise TypeError(
            "channels need a connection served by pywebsocket3's own server, not %r"
            % (type(connection).__name__,)
        )
    return connection


def configure(url=None, queue_limit=None):
    """Selects the backend of this process: ``url`` ``redis://[:PASSWORD@]HOST:PORT/DB`` (or
    ``unix:///path/to/redis.sock``) or None for in-process; ``queue_limit``: bytes queued for one
    member at most. The server calls this with ``--channels-url`` in each worker; a plain
    process calls it before publishing. A bad URL raises ValueError."""
    _native.channels_configure(url or None, queue_limit)
    global _flush_at_exit
    if url and not _flush_at_exit:
        # A process that publishes and exits (a cron job) still hands its messages to Redis.
        _flush_at_exit = True
        atexit.register(flush, 2.0)


_flush_at_exit = False


def check_url(url):
    """Raises ValueError unless ``url`` is a Redis URL (the server checks at start-up)."""
    _native.channels_check_url(url)


def subscribe(request, channel):
    """Adds the handler's connection (``request`` or ``request.connection``) to ``channel``."""
    _native.channels_subscribe(_connection(request), str(channel))
    global _split_warning
    if _split_warning:
        _split_warning = False
        logging.getLogger(__name__).warning(
            "channels are in-process and --workers runs several processes: members of one "
            "worker do not get what another publishes (use --channels-url redis://...)"
        )


_split_warning = False


def _warn_split_by_workers():
    """The server runs --workers without Redis: the first subscribe says what that means."""
    global _split_warning
    _split_warning = True


def unsubscribe(request, channel=None):
    """Removes the connection from ``channel``, or from every channel when None."""
    _native.channels_unsubscribe(_connection(request), None if channel is None else str(channel))


def publish(channel, message, binary=None):
    """Sends ``message`` (str: a text message; bytes-like: binary) to every member of
    ``channel``. ``binary`` overrides the type: bytes with ``binary=False`` must be UTF-8.
    Returns False when the message was dropped at once (the Redis queue is full)."""
    if isinstance(message, str):
        data = message.encode("utf-8")
        is_binary = bool(binary)
    elif isinstance(message, (bytes, bytearray, memoryview)):
        data = bytes(message)
        is_binary = True if binary is None else bool(binary)
        if not is_binary:
            data.decode("utf-8")
    else:
        raise TypeError("message must be str or bytes, not %s" % type(message).__name__)
    return _native.channels_publish(str(channel), data, is_binary)


def flush(timeout=5.0):
    """Waits until every publish so far was handed to Redis (or given up on), at most
    ``timeout`` seconds; True when none is left. Call it before a publishing process exits."""
    return _native.channels_flush(float(timeout))


def members(channel):
    """How many connections of this process are members of ``channel``."""
    return _native.channels_members(str(channel))


def stats():
    """Counters of this process: published, delivered, dropped, closed_slow, the backend."""
    return dict(_native.channels_stats())
