"""``pywebsocket3.serve(options)``: the server on a loop the caller already runs.

Async handler files run as tasks on the caller's loop; blocking ones keep their handler
threads. ``async with await serve(options) as server:`` stops it cleanly on exit.
"""

import asyncio
import logging

from pywebsocket3 import server_util
from pywebsocket3.websocket_server import _DEFAULT_SHUTDOWN_TIMEOUT, WebSocketServer


class AsyncServer:
    """A started server; ``close()`` (or leaving ``async with``) stops it."""

    def __init__(self, server):
        self.server = server
        self._closed = None

    @property
    def port(self):
        return self.server.server_port

    @property
    def sockets(self):
        return [sock for sock, _addrinfo in self.server._sockets]

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        await self.close()

    async def serve_forever(self):
        """Waits until ``close()`` has run (from another task)."""
        if self._closed is None:
            self._closed = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._closed)

    async def close(self):
        """Close 1001 to every open WebSocket, up to --shutdown-timeout for handlers to end,
        then tasks still running are cancelled and the sockets closed."""
        server = self.server
        options = server.websocket_server_options
        timeout = float(getattr(options, "shutdown_timeout", _DEFAULT_SHUTDOWN_TIMEOUT))
        loop = asyncio.get_running_loop()
        with server._state_lock:
            stopped, server._native_stopped = server._native_stopped, True
        if not stopped:
            # The native shutdown waits for handlers, which run on this loop: not on it.
            await loop.run_in_executor(None, server._native.shutdown, timeout)
        runner = server._aio
        if runner is not None:
            await runner.cancel_all()
        server.server_close()
        if self._closed is None:
            self._closed = loop.create_future()
        if not self._closed.done():
            self._closed.set_result(None)


async def serve(options):
    """Binds, loads the handlers and serves on the running loop; returns an AsyncServer."""
    loop = asyncio.get_running_loop()
    server = WebSocketServer(options)
    server_util._init_native_logging(logging.getLogger("pywebsocket3").getEffectiveLevel())
    server._apply_option_changes()
    server._start_channels()
    server._start_hub()
    server._start_aio(loop=loop)
    server._native.start()
    return AsyncServer(server)
