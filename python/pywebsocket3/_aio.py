"""Async handlers: handler files whose hooks are ``async def`` run as asyncio tasks.

A handler file is async when its ``web_socket_transfer_data`` or
``web_socket_do_extra_handshake`` is a coroutine function (``inspect``, at load time); it
is served on the process's one asyncio loop, next to blocking handlers on their threads.

How it runs on the same engine: the connection's socket is made non-blocking and the
usual per-connection flow (handshake, dispatch, close codes: ``request_handler``) runs
in a *bridge* greenlet driven by the connection's task. Wherever that flow would block
(a socket not ready, a lock another task holds, an ``async def`` hook to await) the
bridge switches back to its task, which awaits the socket's readiness (``add_reader``
/ ``add_writer``) or the hook on the loop, then switches back in. A hook's
``await ws_stream.receive_message()`` first takes a message already buffered natively
(no greenlet, no syscall) and only bridges when it must wait.
"""

import asyncio
import inspect
import logging
import os
import threading

from pywebsocket3 import _hub, _native, common

# What a connection waits for (conn::cooperative::Wait).
_READABLE = 0
_WRITABLE = 1
_YIELD = 2
# Turns a bridge waiting for a lock takes at once before it backs off (seconds).
_QUICK_YIELDS = 8
_YIELD_BACKOFF = 0.001

_logger = logging.getLogger("pywebsocket3.websocket_server.WebSocketServer")
_greenlet = None
_Bridge = None
# The runner of this process (its loop serves TLS connections' async hooks too).
_current_runner = None


def _import_greenlet():
    global _greenlet, _Bridge
    if _greenlet is None:
        try:
            import greenlet
        except ImportError:
            raise RuntimeError(
                "async handlers need the greenlet package: pip install greenlet"
            ) from None

        class Bridge(greenlet.greenlet):
            """A greenlet running blocking engine code for a task on the loop."""

        _greenlet, _Bridge = greenlet, Bridge
    return _greenlet


class _Wait:
    __slots__ = ("fd", "kind")

    def __init__(self, fd, kind):
        self.fd = fd
        self.kind = kind


class TransferInTask(BaseException):
    """Ends a connection's flow greenlet where its async transfer hook would be awaited:
    the task runs the hook itself, so no greenlet (and its saved stack, ~6 KiB) is held
    while the connection lives, then the rest of the flow (``end_transfer``) in a bridge."""

    def __init__(self, hook, request, stream):
        super().__init__()
        self.hook = hook
        self.request = request
        self.stream = stream


class _Await:
    __slots__ = ("awaitable",)

    def __init__(self, awaitable):
        self.awaitable = awaitable


def is_async_suite(*hooks):
    """True when a handler file's hooks make it an async handler."""
    return any(inspect.iscoroutinefunction(hook) for hook in hooks)


def _in_bridge():
    return _greenlet is not None and type(_greenlet.getcurrent()) is _Bridge


def wait(fd, kind):
    """The waiter of every async connection (called by the engine, GIL held)."""
    if _in_bridge():
        _greenlet.getcurrent().parent.switch(_Wait(fd, kind))
        return
    # Another thread using the connection (or a path that cannot bridge): block, as the hub does.
    _hub._wait_blocking(fd, kind)


def await_blocking(awaitable):
    """Runs an awaitable to its end from blocking code: in a bridge, on its task."""
    if _in_bridge():
        return _greenlet.getcurrent().parent.switch(_Await(awaitable))
    runner = _current_runner
    if runner is not None and runner.loop.is_running() and not runner.on_loop_thread():
        return asyncio.run_coroutine_threadsafe(_as_coroutine(awaitable), runner.loop).result()
    return asyncio.run(_as_coroutine(awaitable))


async def _as_coroutine(awaitable):
    return await awaitable


def _wake(future):
    if not future.done():
        future.set_result(None)


# fd -> _native.ReadWatch (the socket's readability, woken from the loop's selector with no
# Python frame) of the connections served on this process's loops.
_read_watches = {}


def _read_watch(loop, fd):
    watch = _read_watches.get(fd)
    if watch is None or watch.event_loop is not loop:
        watch = _read_watches[fd] = _native.ReadWatch(loop, fd)
    return watch


def _forget_fd(fd):
    """The connection is done: its reader goes before its descriptor is closed."""
    watch = _read_watches.pop(fd, None)
    if watch is not None:
        watch.close()


async def _ready(loop, fd, kind):
    if kind == _YIELD:
        await asyncio.sleep(0)
        return
    if kind == _READABLE:
        await _read_watch(loop, fd).wait()
        return
    future = loop.create_future()
    loop.add_writer(fd, _wake, future)
    try:
        await future
    finally:
        loop.remove_writer(fd)


class _Done:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class _Raised:
    __slots__ = ("error",)

    def __init__(self, error):
        self.error = error


def _bridge_main(fn, args):
    """A bridge's whole life: one job after another, each handed in by ``drive``.

    A bridge is kept for the next job (see ``_idle_bridges``): starting a greenlet costs
    about 10 µs (CPython gives each new one a fresh frame stack), several per connection.
    """
    while True:
        try:
            result = _Done(fn(*args))
        except _greenlet.GreenletExit:
            raise  # collected while suspended: end
        except BaseException as error:
            result = _Raised(error)
        fn = args = None
        fn, args = _greenlet.getcurrent().parent.switch(result)


# Bridges between jobs, per loop thread (a greenlet runs on the thread that started it).
_idle = threading.local()
_MAX_IDLE_BRIDGES = 32


def _idle_bridges():
    try:
        return _idle.bridges
    except AttributeError:
        _idle.bridges = []
        return _idle.bridges


async def drive(fn, *args, flow=False):
    """``fn(*args)`` (blocking engine code) in a bridge greenlet, its waits awaited here.

    ``flow``: this is a connection's own flow, whose async transfer hook its task awaits
    (``TransferInTask``)."""
    _import_greenlet()
    loop = asyncio.get_running_loop()
    idle = _idle_bridges()
    if idle:
        bridge = idle.pop()
        here = _greenlet.getcurrent()
        if bridge.parent is not here:
            bridge.parent = here
        # Each job starts in an empty context, as a new greenlet would.
        bridge.gr_context = None
    else:
        bridge = _Bridge(_bridge_main)
    bridge.flow = flow
    request = bridge.switch(fn, args)
    thrown = None
    yields = 0
    while True:
        kind = type(request)
        if kind is _Done or kind is _Raised:
            if len(idle) < _MAX_IDLE_BRIDGES:
                idle.append(bridge)
            # The idle bridge's frame still holds this object: empty it, so what the job
            # returned or raised (a request, a traceback) is not kept alive by the pool.
            if kind is _Done:
                value, request.value = request.value, None
                return value
            after, request.error = request.error, None
            request = None
            # The engine turns an exception inside a wait into a socket error; a
            # cancellation must still reach the task as one.
            if isinstance(thrown, asyncio.CancelledError) and after is not thrown:
                raise thrown from after
            raise after
        try:
            if kind is _Wait:
                # Waiting out a lock that another bridge holds while it waits for its peer:
                # after a few quick turns, back off instead of spinning the loop.
                yields = yields + 1 if request.kind == _YIELD else 0
                if yields > _QUICK_YIELDS:
                    await asyncio.sleep(_YIELD_BACKOFF)
                else:
                    await _ready(loop, request.fd, request.kind)
                value = None
            else:
                value = await request.awaitable
        except BaseException as error:
            thrown = error
            request = bridge.throw(error)
        else:
            thrown = None
            request = bridge.switch(value)


class _Runner:
    """Runs one connection's blocking calls: bridged on the loop, or on its own thread for
    a connection the loop does not own (TLS)."""

    __slots__ = ("_connection", "_executors")

    def __init__(self, connection):
        self._connection = connection
        # Receiving and sending each get a thread, so a receive that waits for the peer
        # never holds up a send (as with the bridge, whose reads and writes are independent).
        self._executors = {}

    async def __call__(self, fn, *args, receiving=False):
        if self._connection._is_async:
            return await drive(fn, *args)
        return await self.in_thread(fn, *args, receiving=receiving)

    def in_thread(self, fn, *args, receiving=False):
        executor = self._executors.get(receiving)
        if executor is None:
            from concurrent.futures import ThreadPoolExecutor

            executor = self._executors[receiving] = ThreadPoolExecutor(
                1, thread_name_prefix="pywebsocket3-tls"
            )
        return asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    def close(self):
        """The handler is done: its threads end once idle (a later call starts new ones)."""
        executors, self._executors = self._executors, {}
        for executor in executors.values():
            executor.shutdown(wait=False)


class AsyncStream:
    """``request.ws_stream`` for async handlers: the blocking stream's API as coroutines.

    Attributes other than the awaitable methods are the blocking stream's.
    """

    def __init__(self, stream, runner, connection):
        self._blocking = stream
        self._run = runner
        self._connection = connection
        self._streak = 0
        # A receive whose task was cancelled (asyncio.wait_for, a timeout) while it waited:
        # the next receive goes on with it, so no message is lost or cut in half.
        self._parked = None
        # The connection's ReadWatch, kept so a wait costs no loop lookup (get_running_loop
        # asks the kernel for the pid each time).
        self._watch = None

    def __getattr__(self, name):
        return getattr(self._blocking, name)

    async def receive_message(self):
        """The next message: str, bytes, or None once the peer's Close came (answered)."""
        return await _native.Receive(self)

    # What _native.Receive hands over when the next message is not simply buffered or a wait
    # for readability away.

    async def _receive_engine(self, _end):
        """EOF, another reader busy, a parked receive, TLS: the engine's own receive."""
        self._streak = 0
        message = await self._receive_waiting()
        if message is None and _end is not None:
            raise _end
        return message

    async def _control(self, frame):
        """A control frame received: processed as the blocking stream does. True: the Close."""
        opcode, payload = frame
        stream = self._blocking
        if opcode == common.OPCODE_CLOSE:
            await self._run(stream._process_close_message, payload)
            return True
        if opcode == common.OPCODE_PING:
            await self._run(stream._process_ping_message, payload)
        else:
            await self._run(stream._process_pong_message, payload)
        return False

    def _new_watch(self):
        watch = self._watch = _read_watch(asyncio.get_running_loop(), self._connection._fd)
        return watch

    async def _receive_waiting(self):
        # The engine's receive runs as a task (bridged, or on the receiving thread for TLS):
        # a cancelled wait leaves it running, and the next receive takes its result, so a
        # timeout never loses a message or leaves one half-read with the locks held.
        pending, self._parked = self._parked, None
        if pending is None:
            if self._connection._is_async:
                pending = asyncio.ensure_future(drive(self._blocking.receive_message))
            else:
                pending = self._run.in_thread(self._blocking.receive_message, receiving=True)
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            # Parked even when it finished just as the cancel came: its message is the next.
            if not pending.cancelled():
                self._parked = pending
            raise

    def _drop_parked(self):
        """The handler is done: a receive still running for it is cancelled."""
        parked, self._parked = self._parked, None
        if parked is not None:
            if parked.done():
                if not parked.cancelled():
                    parked.exception()  # seen: not "never retrieved"
            else:
                parked.cancel()
        self._run.close()

    async def send_message(self, message, end=True, binary=False):
        """Sends a message (or part of one); waits while the peer does not read."""
        stream = self._blocking
        sent = stream._send_nowait(message, end, binary)
        if sent == 1:
            return
        if sent == 2:
            await self._run(self._connection._flush)
            return
        await self._run(stream.send_message, message, end, binary)

    async def close_connection(
        self, code=common.STATUS_NORMAL_CLOSURE, reason="", wait_response=True
    ):
        if self._parked is None:
            await self._run(self._blocking.close_connection, code, reason, wait_response)
            return
        # A receive cancelled while it waited is still running: what it gets is the next
        # message, so it is the answer close_connection waits for (a data message there
        # raises, as when the blocking close_connection receives one).
        if await self._run(self._blocking._initiate_close, code, reason, wait_response):
            self._blocking._check_close_answer(await self._receive_waiting())

    async def send_ping(self, body="", binary=False):
        await self._run(self._blocking.send_ping, body, binary)

    async def receive_bytes(self, length):
        return await self._run(self._blocking.receive_bytes, length, receiving=True)

    def __aiter__(self):
        return self

    def __anext__(self):
        # The awaitable itself, no coroutine frame: it raises StopAsyncIteration at the Close.
        return _native.Receive(self, StopAsyncIteration)


class AsyncConnection:
    """``request.connection`` for async hooks: ``await read(n)`` / ``await write(data)``."""

    def __init__(self, connection, runner):
        self._connection = connection
        self._run = runner

    def __getattr__(self, name):
        return getattr(self._connection, name)

    async def read(self, length):
        return await self._run(self._connection.read, length, receiving=True)

    async def write(self, data):
        await self._run(self._connection.write, data)


def _runner_of(request):
    runner = getattr(request, "_aio_runner", None)
    if runner is None:
        native = getattr(request, "_connection_native", None) or request.connection
        request._connection_native = native
        runner = request._aio_runner = _Runner(native)
    return runner


def blocking_hook(hook, phase):
    """A coroutine-function hook as the blocking flow calls it (dispatch._HandlerSuite)."""
    if not inspect.iscoroutinefunction(hook):
        return hook

    def call(request):
        runner = _runner_of(request)
        native = request._connection_native
        if phase == "handshake":
            request.connection = AsyncConnection(native, runner)
            try:
                return await_blocking(hook(request))
            finally:
                request.connection = native
        if phase == "transfer":
            request.connection = AsyncConnection(native, runner)
            stream = request.ws_stream
            if not isinstance(stream, AsyncStream):
                stream = request.ws_stream = AsyncStream(stream, runner, native)
            if _in_bridge() and _greenlet.getcurrent().flow:
                raise TransferInTask(hook, request, stream)
            return await_blocking(_then_drop_parked(hook(request), stream))
        return await_blocking(hook(request))

    call.__wrapped__ = hook
    return call


async def _then_drop_parked(coroutine, stream):
    try:
        return await coroutine
    finally:
        stream._drop_parked()


def blocking_stream(request):
    """The stream the blocking flow uses, also when the handler sees an AsyncStream."""
    stream = request.ws_stream
    return getattr(stream, "_blocking", stream) if isinstance(stream, AsyncStream) else stream


def call_control_handler(handler, request, message):
    """on_ping_handler / on_pong_handler, which may be ``async def``."""
    result = handler(request, message)
    if inspect.isawaitable(result):
        await_blocking(result)


class AsyncRunner:
    """The asyncio loop of this process and the tasks serving async connections.

    ``on_websocket(connection, head)`` is the blocking flow (``request_handler``), run
    in a bridge per connection. Without ``loop`` a new loop runs on its own thread
    (uvloop when ``event_loop`` asks for it, or by default when it is installed).
    """

    def __init__(self, on_websocket, loop=None, event_loop=None):
        _import_greenlet()
        self._on_websocket = on_websocket
        self.queue = _native.AsyncQueue()
        self.pid = os.getpid()
        self._tasks = set()
        self._thread = None
        self._own_loop = loop is None
        self.loop = loop if loop is not None else new_event_loop(event_loop)

    def start(self):
        global _current_runner
        _current_runner = self
        if self._own_loop:
            started = threading.Event()
            self._thread = threading.Thread(
                target=self._run_loop, args=(started,), name="pywebsocket3-asyncio", daemon=True
            )
            self._thread.start()
            started.wait(5)
        else:
            self.loop.add_reader(self.queue.wake_fd(), self._accept)

    def _run_loop(self, started):
        asyncio.set_event_loop(self.loop)
        self.loop.add_reader(self.queue.wake_fd(), self._accept)
        self.loop.call_soon(started.set)
        try:
            self.loop.run_forever()
        finally:
            try:
                self.loop.remove_reader(self.queue.wake_fd())
            except Exception:
                pass
            self.loop.close()

    def on_loop_thread(self):
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def _accept(self):
        for connection, head in self.queue.take():
            task = self.loop.create_task(self._serve(connection, head))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, connection, head):
        try:
            connection._make_async(wait)
            try:
                await drive(self._on_websocket, connection, head, flow=True)
            except TransferInTask as transfer:
                await self._transfer(connection, transfer)
        except asyncio.CancelledError:
            _logger.debug("Handler task cancelled: %r", connection.remote_addr)
        except Exception:
            _logger.exception("Exception in processing request from: %r", connection.remote_addr)
        finally:
            try:
                await drive(connection._finish)
            except BaseException:
                connection.close()
                connection._finish()
            finally:
                _forget_fd(connection._fd)
                connection._release()

    async def _transfer(self, connection, transfer):
        """The async transfer hook, awaited by the connection's task, then the close it
        asks for (``WebSocketRequestHandler.end_transfer``) in a bridge."""
        request = transfer.request
        error = None
        try:
            await transfer.hook(request)
        except asyncio.CancelledError:
            raise  # as when the flow awaited it: no close
        except BaseException as e:
            error = e
        finally:
            transfer.stream._drop_parked()
        await drive(self._on_websocket.end_transfer, connection, request, error)

    def active(self):
        return len(self._tasks)

    async def cancel_all(self, timeout=1.0):
        """Cancels every task still serving a connection and waits (at most ``timeout``)."""
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def close(self, timeout=1.0):
        """No new connections; tasks still running are cancelled; an own loop stops."""
        self.queue.close()
        if self._own_loop:
            if self.loop.is_running() and self._thread is not threading.current_thread():
                future = asyncio.run_coroutine_threadsafe(self.cancel_all(timeout), self.loop)
                try:
                    future.result(timeout + 1.0)
                except Exception:
                    pass
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(timeout=2.0)
        else:
            try:
                self.loop.remove_reader(self.queue.wake_fd())
            except Exception:
                pass


def check_event_loop(event_loop):
    """A clear start-up error for a loop that cannot be had."""
    if event_loop not in (None, "", "auto", "asyncio", "uvloop"):
        raise ValueError("event loop must be 'asyncio' or 'uvloop', not %r" % (event_loop,))
    if event_loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            raise RuntimeError(
                "--event-loop uvloop needs the uvloop package: pip install uvloop"
            ) from None


def new_event_loop(event_loop=None):
    """A new loop: ``asyncio``, ``uvloop``, or (None) uvloop when installed."""
    if event_loop in (None, "", "auto"):
        try:
            import uvloop
        except ImportError:
            return asyncio.new_event_loop()
        return uvloop.new_event_loop()
    if event_loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    if event_loop == "asyncio":
        return asyncio.new_event_loop()
    raise ValueError("event loop must be 'asyncio' or 'uvloop', not %r" % (event_loop,))
