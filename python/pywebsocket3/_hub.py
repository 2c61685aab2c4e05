"""The greenlet hub (``--greenlets``): every handler of a process on one thread.

By default each WebSocket connection gets its own handler thread, as in pywebsocket,
and one message in flight costs a thread switch. With ``--greenlets`` the handlers run
as greenlets on one hub thread instead: a connection whose socket has nothing to read
(or no room to write) hands the thread to the next greenlet that can go on, and the hub
waits for all of their sockets at once, so a busy server handles many messages per
wake-up. Handlers must then wait only on their WebSocket (``receive_message``,
``send_message``, ``connection.read``/``write``): a handler that sleeps or blocks on
anything else stalls every connection of the process. TLS connections still get
handler threads. Needs the ``greenlet`` package (``pip install pywebsocket-rs[greenlet]``).
"""

import collections
import functools
import logging
import os
import select
import threading
import time

from pywebsocket3 import _native

# What a cooperative connection waits for (conn::cooperative::Wait).
_READABLE = 0
_WRITABLE = 1
_YIELD = 2
# Readiness bits of Hub.poll.
_READY_READ = 1
_READY_WRITE = 2
_IDLE_POLL_SECONDS = 5.0

_logger = logging.getLogger("pywebsocket3.websocket_server.WebSocketServer")


def import_greenlet():
    """The greenlet module, or a clear start-up error."""
    try:
        import greenlet
    except ImportError:
        raise RuntimeError(
            "--greenlets needs the greenlet package: pip install 'pywebsocket-rs[greenlet]'"
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
    """One hub thread per process; ``on_websocket(connection, head)`` runs in a greenlet."""

    def __init__(self, on_websocket):
        self._greenlet = import_greenlet()
        self._on_websocket = on_websocket
        self.native = _native.Hub(self._wait)
        self.pid = os.getpid()
        self._waiting = {}
        self._runnable = collections.deque()
        self._loop = None
        self._ident = None
        self._thread = threading.Thread(target=self._run, name="pywebsocket3-hub", daemon=True)

    def start(self):
        self._thread.start()

    def close(self):
        """No new connections; the hub thread ends (greenlets still waiting stay parked)."""
        self.native.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _run(self):
        self._loop = self._greenlet.getcurrent()
        self._ident = threading.get_ident()
        waiting = self._waiting
        runnable = self._runnable
        poll = self.native.poll
        new_greenlet = self._greenlet.greenlet
        while True:
            batch = poll(0.0 if runnable else _IDLE_POLL_SECONDS)
            if batch is None:
                return
            connections, ready = batch
            for fd, mask in ready:
                if mask & _READY_READ:
                    parked = waiting.pop((fd, _READABLE), None)
                    if parked is not None:
                        runnable.append(parked)
                if mask & _READY_WRITE:
                    parked = waiting.pop((fd, _WRITABLE), None)
                    if parked is not None:
                        runnable.append(parked)
            for connection, head, _name in connections:
                runnable.append(new_greenlet(functools.partial(self._serve, connection, head)))
            # Those that yield now run after the next poll, so nobody starves the sockets.
            for _ in range(len(runnable)):
                handler = runnable.popleft()
                try:
                    handler.switch()
                except BaseException:
                    _logger.exception("Handler greenlet ended with an error")

    def _serve(self, connection, head):
        try:
            self._on_websocket(connection, head)
        except Exception:
            _logger.exception("Exception in processing request from: %r", connection.remote_addr)
        finally:
            self.native.forget(connection)
            connection._finish()

    def _wait(self, fd, kind):
        """Called by a cooperative connection instead of blocking (with the GIL held)."""
        current = self._greenlet.getcurrent()
        if current is self._loop or threading.get_ident() != self._ident:
            _wait_blocking(fd, kind)
            return
        if kind == _YIELD:
            self._runnable.append(current)
        else:
            self._waiting[(fd, kind)] = current
        self._loop.switch()
