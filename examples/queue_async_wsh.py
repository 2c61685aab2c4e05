"""Two roles around one asyncio.Queue: /queue_async?role=feed puts every message it
receives into the queue; /queue_async?role=take sends each queued message on, as it comes.
"""

import asyncio
from urllib.parse import parse_qs, urlsplit

_queue = None


def _shared_queue():
    global _queue
    if _queue is None:
        _queue = asyncio.Queue(1024)  # created on the loop that serves the handlers
    return _queue


async def web_socket_do_extra_handshake(request):
    role = parse_qs(urlsplit(request.ws_resource).query).get("role", ["take"])[0]
    if role not in ("feed", "take"):
        raise ValueError("role must be feed or take")
    request.role = role


async def web_socket_transfer_data(request):
    queue = _shared_queue()
    if request.role == "feed":
        async for message in request.ws_stream:
            await queue.put(message)
        return
    waiting = asyncio.ensure_future(request.ws_stream.receive_message())
    while True:
        item = asyncio.ensure_future(queue.get())
        done, _ = await asyncio.wait({item, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if waiting in done:  # the taker closed (or sent something): stop
            if item.done() and not item.cancelled():
                queue.put_nowait(item.result())  # taken just now: leave it for another
            item.cancel()
            return
        message = item.result()
        await request.ws_stream.send_message(message, binary=isinstance(message, bytes))
