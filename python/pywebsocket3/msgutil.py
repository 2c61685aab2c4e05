"""Message helpers for handlers: functions over ``request.ws_stream`` and two thread helpers."""

import queue
import threading

from pywebsocket3._stream_exceptions import (  # noqa: F401  (re-exported for handlers)
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    UnsupportedFrameException,
)


def close_connection(request):
    """Close 1000 and wait for the peer's Close (an awaitable for an async handler)."""
    return request.ws_stream.close_connection()


def send_message(request, payload_data, end=True, binary=False):
    """Send a message (str as text, bytes with ``binary=True``), or part of one."""
    return request.ws_stream.send_message(payload_data, end, binary)


def receive_message(request):
    """The next message: str, bytes, or None when the peer closed."""
    return request.ws_stream.receive_message()


def send_ping(request, body=""):
    return request.ws_stream.send_ping(body)


class MessageReceiver(threading.Thread):
    """A daemon thread that receives messages and either calls ``onmessage(message)`` or
    queues them for receive()/receive_nowait(). It starts itself and closes the connection
    when its loop ends."""

    def __init__(self, request, onmessage=None):
        super().__init__()
        self._request = request
        self._queue = queue.Queue()
        self._onmessage = onmessage
        self._stop_requested = False
        self.daemon = True
        self.start()

    def run(self):
        try:
            while not self._stop_requested:
                message = receive_message(self._request)
                if self._onmessage:
                    self._onmessage(message)
                else:
                    self._queue.put(message)
        finally:
            close_connection(self._request)

    def receive(self):
        """The next message, waiting for it."""
        return self._queue.get()

    def receive_nowait(self):
        """The next message, or None if none is queued."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def stop(self):
        """Stop after the next message arrives (a blocked receive cannot be interrupted)."""
        self._stop_requested = True


class MessageSender(threading.Thread):
    """A daemon thread that sends text messages queued by send() (which waits until the
    message is sent) or send_nowait()."""

    def __init__(self, request):
        super().__init__()
        self._request = request
        self._queue = queue.Queue()
        self.daemon = True
        self.start()

    def run(self):
        while True:
            message, condition = self._queue.get()
            with condition:
                send_message(self._request, message)
                condition.notify()

    def send(self, message):
        """Send ``message`` and return once it has been written."""
        condition = threading.Condition()
        with condition:
            self._queue.put((message, condition))
            condition.wait()

    def send_nowait(self, message):
        self._queue.put((message, threading.Condition()))
