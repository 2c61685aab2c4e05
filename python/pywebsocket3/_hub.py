"""The greenlet hub (``--greenlets``): every handler of a process on one thread.

By default each WebSocket connection gets its own handler thread, as in pywebsocket,
and one message in flight costs a thread switch. With ``--greenlets`` the handlers run
as greenlets on one hub thread instead: a connection whose socket has nothing to read
(or no room to write) hands the thread to the next greenlet that can go on, and the hub
waits for all of their sockets at once, so a busy server handles many messages per
wake-up. Handlers must then wait only on their WebSocket (``receive_message``,
``send_message``, ``connection.read``/``write``): a handler that sleeps or blocks on
anything else stalls every connection of the process. TLS connections still get
handler threads. Needs the ``greenlet`` package (``pip install 'pywebsocket3[greenlet]'``).
"""

import logging
import os
import select
import threading
import time

from pywebsocket3 import _native

# What a cooperative connection waits for (conn::cooperative::Wait).
_READABLE = 0
_YIELD = 2

_logger = logging.getLogger("pywebsocket3.websocket_server.WebSocketServer")


def import_greenlet():
    """The greenlet module, or a clear start-up error."""
    try:
        import greenlet
    except ImportError:
        raise RuntimeError(
            "--greenlets needs the greenlet package: pip install 'pywebsocket3[greenlet]'"
        )
    return greenlet


def _wait_blocking(fd, kind):
    """A wait from a thread other than the hub's (a handler's helper thread): block."""
    if kind == _YIELD:
        time.sleep(0.001)
        return
    poller = select.poll()
    poller.register(fd, select.POLLIN if kind == _READABLE else select.POLLOUT)
    poller.poll()


class Hub:
    """One hub thread per process; ``on_websocket(connection, head)`` runs in a greenlet.

    The loop and the scheduling are native (``_native.Hub.run``); this class starts the
    thread and runs each handler.
    """

    def __init__(self, on_websocket):
        greenlet = import_greenlet()
        self._on_websocket = on_websocket
        self.native = _native.Hub(
            greenlet.getcurrent, _wait_blocking, greenlet.greenlet, self._serve
        )
        self.pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="pywebsocket3-hub", daemon=True)

    def start(self):
        self._thread.start()

    def close(self):
        """No new connections; the hub thread ends (greenlets still waiting stay parked)."""
        self.native.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _run(self):
        try:
            self.native.run()
        except Exception:
            _logger.exception("The greenlet hub stopped")

    def _serve(self, connection, head):
        try:
            self._on_websocket(connection, head)
        except Exception:
            _logger.exception("Exception in processing request from: %r", connection.remote_addr)
        finally:
            self.native.forget(connection)
            connection._finish()
            connection._release()
