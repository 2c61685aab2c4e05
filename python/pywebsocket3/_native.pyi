"""Type stubs for the native core (private: the Python package is the API).

This file is the contract between the Rust crate (src/) and the Python package.
Exceptions raised by the native code are the upstream-named classes defined in
``pywebsocket3._stream_exceptions`` (and ``handshake.base`` for handshake errors).
"""

from typing import Any, Callable, Optional, Union

__version__: str

# ---------------------------------------------------------------- framing helpers
def build_frame(
    opcode: int,
    payload: bytes,
    fin: int = 1,
    rsv1: int = 0,
    rsv2: int = 0,
    rsv3: int = 0,
    mask: bool = False,
) -> bytes:
    """One complete frame; with ``mask`` a random key is drawn and the payload masked."""

def parse_frame(
    read: Callable[[int], bytes], unmask_receive: bool = True
) -> tuple[int, bytes, int, int, int, int]:
    """Read one frame through ``read(n)`` (exact-size reads, as upstream parse_frame does).

    Returns ``(opcode, payload, fin, rsv1, rsv2, rsv3)``; raises InvalidFrameException for a
    missing/unexpected mask, a 64-bit length with the top bit set, a bad control frame.
    """

def mask(key: bytes, data: bytes, offset: int = 0) -> bytes:
    """XOR ``data`` with the 4-byte ``key`` starting at key position ``offset % 4``."""

def compute_accept(key: bytes) -> bytes:
    """base64(SHA-1(key + GUID))."""

def http_error_response(status: int, message: Optional[str] = None) -> bytes:
    """The bytes of an HTTP/1.0 error response exactly like http.server's send_error."""

# ---------------------------------------------------------------- protocol engine
class Engine:
    """The one WebSocket protocol engine, over a native Connection or any Python object
    with ``read(n) -> bytes`` and ``write(bytes)``.

    Receiving and sending are independent (two threads may use one engine at once).
    Every blocking wait on a native Connection happens with the GIL released.
    """

    def __init__(
        self,
        connection: object,
        *,
        mask_send: bool = False,
        unmask_receive: bool = True,
        max_message_size: int = 67108864,
    ) -> None: ...
    def enable_deflate(
        self,
        *,
        outgoing: bool = True,
        incoming: bool = True,
        outgoing_window_bits: int = 15,
        outgoing_no_context_takeover: bool = False,
        bfinal: bool = False,
        incoming_window_bits: int = 15,
        incoming_no_context_takeover: bool = False,
    ) -> None:
        """Turn permessage-deflate on (zlib level 6, raw window, sync flush, tail stripped)."""

    def set_outgoing_compression(self, enabled: bool) -> None: ...
    def receive(self) -> tuple[int, Union[str, bytes]]:
        """Block until one event: ``(1, str)`` or ``(2, bytes)`` for a whole data message,
        ``(8|9|10, bytes)`` for a close/ping/pong control frame (also between fragments).

        Raises InvalidFrameException (protocol error: close 1002), ProtocolViolationException
        (reserved bits / unknown opcode: 1002), InvalidUTF8Exception (1007, raised as soon as
        invalid UTF-8 is seen), MessageTooBigException (1009, before buffering the message),
        ConnectionTerminatedException (EOF or socket error).
        """

    def receive_frame(self) -> tuple[int, bytes, int, int, int, int]:
        """One raw frame, unmasked: ``(opcode, payload, fin, rsv1, rsv2, rsv3)``."""

    def process_frame(
        self, opcode: int, payload: bytes, fin: int, rsv1: int, rsv2: int, rsv3: int
    ) -> Optional[tuple[int, Union[str, bytes]]]:
        """Feed one frame into message assembly; an event as ``receive`` or None."""

    def send_message(self, payload: bytes, end: bool = True, binary: bool = False) -> None:
        """One frame of a (possibly fragmented) message, compressed when deflate is on;
        exactly one write. ``payload`` is already UTF-8 for text. Changing the type inside a
        fragmented message raises BadOperationException."""

    def send_frame(self, opcode: int, payload: bytes) -> None:
        """One unfragmented frame as is (control frames: close, ping, pong)."""

    def read(self, length: int) -> bytes:
        """Exactly ``length`` raw bytes (ConnectionTerminatedException at EOF)."""

    def write(self, data: bytes) -> None:
        """Raw bytes, in order with the frames this engine writes."""

    @property
    def last_opcode(self) -> Optional[int]: ...

class StreamCore:
    """The native base of ``stream.Stream``: its per-message methods, without a Python frame.

    What is not the common case calls back into the instance (so subclasses' overrides
    apply): ``_process_close_message``, ``_process_ping_message``, ``_process_pong_message``,
    ``_send_message_general`` (text given as bytes, buffer objects), ``_send_failed``.
    """

    _original_opcode: Optional[int]
    def __init__(self, *args: object, **kwargs: object) -> None: ...
    def _attach_engine(self, engine: Engine) -> None:
        """Once, from ``Stream.__init__``."""

    def receive_message(self) -> Union[str, bytes, None]:
        """The next data message, or None once the peer's Close arrived (and was answered).
        Reads ``request.client_terminated`` first, as upstream does."""

    def send_message(
        self, message: Union[str, bytes], end: object = True, binary: object = False
    ) -> None:
        """Send a message, or one fragment of it with a false ``end``. Reads
        ``request.server_terminated`` first, as upstream does."""

# ---------------------------------------------------------------- native transport
class Connection:
    """A client socket (TCP or TLS) handed to a handler thread; mod_python's mp_conn."""

    @property
    def remote_addr(self) -> tuple: ...
    @property
    def local_addr(self) -> tuple: ...
    def read(self, length: int) -> bytes:
        """At most ``length`` bytes from one receive (b'' only at EOF); GIL released."""

    def write(self, data: bytes) -> None:
        """sendall; TypeError for str; GIL released while blocked."""

    def get_memorized_lines(self) -> list[bytes]: ...
    def peer_certificate(self) -> Optional[bytes]:
        """DER of the client certificate, if one was presented."""

    def close(self) -> None: ...
    def _finish(self) -> None:
        """Called by the handler thread when on_websocket returned: shut down and close."""

    def _release(self) -> None:
        """Close the descriptor now (the hub and the asyncio loop, once done naming it)."""

class ReadWatch:
    """The readability of one connection served on an asyncio loop (``pywebsocket3._aio``):
    its reader callback stays registered while the connection keeps being waited for."""

    def __init__(self, event_loop: Any, fd: int) -> None: ...
    @property
    def event_loop(self) -> Any: ...
    @property
    def fd(self) -> int: ...
    def wait(self) -> Any:
        """A future of the loop, done once the socket is readable or the watch is closed."""

    def _fire(self) -> None:
        """The loop's reader callback."""

    @property
    def closed(self) -> bool: ...
    @property
    def waiting(self) -> int:
        """Futures still held (a cancelled wait is dropped by the next wait)."""

    def close(self) -> None:
        """Takes the reader off and wakes whoever still waits; later waits return at once."""

class Receive:
    """One ``await`` of an async stream's next message (``_aio.AsyncStream``): the common case
    runs natively; a control frame, EOF or a parked receive is handed to the stream's
    ``_control`` / ``_receive_engine`` coroutines, which this awaitable drives."""

    def __init__(self, stream: Any, end: Optional[type] = None) -> None: ...
    def __await__(self) -> Receive: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any) -> Any: ...
    def throw(self, error: Any, value: Any = None, traceback: Any = None) -> Any: ...
    def close(self) -> None: ...

class RequestHead:
    """The parsed HTTP request head of a request routed to a WebSocket handler."""

    method: str
    path: str  # request target, an absolute ws:// target already reduced to its path
    protocol: str  # 'HTTP/1.1'
    headers: list[tuple[str, str]]  # in order, original case, duplicates kept
    raw_lines: list[bytes]  # request line and header lines, with their line endings

class HandlerPool:
    """Where a handler thread whose connection ended waits for its next one (internal)."""

    def next(self, timeout: float) -> Optional[tuple[Connection, RequestHead, str]]:
        """(connection, head, thread name), or None after ``timeout`` seconds, when enough
        threads wait already, or at interpreter exit. Waits without the GIL."""

class Hub:
    """The native half of the --greenlets hub (pywebsocket3._hub): one epoll set per process,
    the loop and the scheduler. Cooperative connections park their greenlet here wherever a
    threaded connection would block; callers on other threads use ``wait_blocking(fd, kind)``
    (kind 0 readable, 1 writable, 2 yield) instead.
    """

    def __init__(
        self,
        getcurrent: Callable[[], object],
        wait_blocking: Callable[[int, int], None],
        greenlet_type: type,
        serve: Callable[[Connection, RequestHead], None],
    ) -> None: ...
    def run(self) -> None:
        """The loop, on the hub thread, until ``close``: each new connection gets a greenlet
        running ``serve(connection, head)``. Waits for sockets without the GIL."""

    def forget(self, connection: Connection) -> None:
        """Stop watching the connection's socket (its handler has returned)."""

    def close(self) -> None: ...

class Server:
    """Listening sockets, the tokio acceptor, static files, CGI, TLS and limits.

    ``config`` keys: see python/pywebsocket3/websocket_server.py (_native_config); among
    them ``server_name``, the ``-H`` value that ``Connection.local_addr`` reports.
    ``on_websocket(connection, head)`` runs on a new OS thread per connection, attached to
    Python, for every request whose path maps to a handler resource.
    """

    def __init__(
        self, config: dict, on_websocket: Callable[[Connection, RequestHead], None]
    ) -> None: ...
    def use_hub(self, hub: Hub) -> None:
        """This process's plain WebSocket connections go to ``hub`` from now on."""

    def listener_fds(self) -> list[int]: ...
    def set_handler_resources(self, resources: list[str]) -> None: ...
    def update(self, config: dict) -> None:
        """Change options that may change while serving (basic auth, limits)."""

    def start(self) -> None: ...
    def wait(self, timeout: float) -> bool:
        """Block (GIL released) up to timeout; True once the server has stopped."""

    def shutdown(self, timeout: float) -> None:
        """Stop accepting; Close 1001 to every open WebSocket; wait up to timeout."""

    def close(self) -> None: ...
    def active_connections(self) -> int: ...

def init_logging(level: int) -> None:
    """Forward Rust log records at or above ``level`` to Python logging (pywebsocket3.*)."""

# Channels (pywebsocket3.channels wraps these; none waits on a socket or on Redis).
def channels_configure(url: str | None = None, queue_limit: int | None = None) -> None: ...
def channels_check_url(url: str) -> None: ...
def channels_subscribe(connection: Connection, channel: str) -> None: ...
def channels_unsubscribe(connection: Connection, channel: str | None = None) -> None: ...
def channels_publish(channel: str, data: bytes, binary: bool) -> bool: ...
def channels_flush(timeout: float) -> bool:
    """Wait (GIL released) until every publish was handed to Redis; False on timeout."""

def channels_members(channel: str) -> int: ...
def channels_stats() -> dict[str, object]: ...
