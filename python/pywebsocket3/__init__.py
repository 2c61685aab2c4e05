# pywebsocket-rs: native implementation (this line tells _pywebsocket3_guard the package is ours)
"""pywebsocket3: a WebSocket server for tests and experiments, on a native Rust transport.

A drop-in replacement for pywebsocket3 / mod_pywebsocket: the same handler files,
command line and Python API. Start the server with

    python -m pywebsocket3.standalone -p 9998 -d docroot -w handlers

(``pydoc pywebsocket3.standalone`` lists every option) and open
``ws://localhost:9998/<resource>``.

Writing handlers
================

The resource ``/a/b`` is served by ``<handler root>/a/b_wsh.py``. Each handler file
is executed once when the server starts and defines up to three functions:

    web_socket_do_extra_handshake(request)
    web_socket_transfer_data(request)
    web_socket_passive_closing_handshake(request)   # optional

All connections share the file's globals, and each connection runs on its own
thread, so handlers must be thread-safe.

``web_socket_do_extra_handshake`` runs once the opening handshake has been parsed.
``request.ws_resource``, ``ws_origin``, ``ws_version``, ``ws_protocol``,
``ws_requested_protocols``, ``ws_requested_extensions`` and
``ws_extension_processors`` are set. Raise any exception to refuse the connection
(the client gets 403), or ``handshake.AbortedByUserException`` to drop it without
an answer. If the client offered subprotocols (``ws_requested_protocols`` is not
None), pick one and store it in ``request.ws_protocol``; otherwise the handshake
fails with 400. ``request.extra_headers`` takes extra ``(name, value)`` response
headers; emptying ``ws_extension_processors`` turns compression off.

``web_socket_transfer_data`` runs after the 101 response. Exchange messages with

    message = request.ws_stream.receive_message()  # str, bytes, or None on Close
    request.ws_stream.send_message(message, binary=isinstance(message, bytes))

(or the helpers in ``pywebsocket3.msgutil``). Returning closes the connection with
1000 and waits for the client's Close; ``request.ws_stream.close_connection(code,
reason)`` closes earlier. Uncaught stream errors close with the matching code.

``web_socket_passive_closing_handshake`` runs when the client starts the closing
handshake; it returns the ``(code, reason)`` to answer with, and may read
``request.ws_close_code`` and ``request.ws_close_reason``. Without it the answer is
``(1000, '')``.

Extensions
==========

permessage-deflate is supported. ``request.ws_requested_extensions`` lists the
client's offer (do not modify it), ``request.ws_extension_processors`` holds one
processor per known offered extension (configure them during the extra handshake),
and ``request.ws_extensions`` ends up holding what was accepted.
"""

from pywebsocket3._native import __version__

__all__ = ["__version__", "serve"]


async def serve(options):
    """Serve on the running asyncio loop: ``async with await serve(options) as server:``.

    ``options`` as ``standalone._parse_args_and_config`` makes them; async handler files
    run as tasks on this loop, blocking ones on their threads (``pywebsocket3._aio_server``).
    """
    from pywebsocket3._aio_server import serve as _serve

    return await _serve(options)
