"""A chat room as an async handler: every text message goes to every member.

Each member has a bounded outbox drained by its own task, so a member whose socket is
full never holds up the others: once its outbox is full it gets a Close 1008, and is
cut off if it does not read that within a second.
"""

import asyncio

from pywebsocket3 import common

_OUTBOX_SIZE = 256
_members = {}  # request -> its outbox (asyncio.Queue)


async def web_socket_do_extra_handshake(request):
    pass


async def _deliver(request, outbox):
    while True:
        text = await outbox.get()
        if text is None:
            return
        await request.ws_stream.send_message(text)


def _broadcast(text):
    for member, outbox in list(_members.items()):
        try:
            outbox.put_nowait(text)
        except asyncio.QueueFull:
            # Too slow to keep up: it leaves rather than slowing the room down.
            _members.pop(member, None)
            asyncio.ensure_future(_close_slow(member))


async def _close_slow(member):
    # A Close 1008 goes out behind what the socket still holds; a member that does not
    # read even that within a second is cut off.
    try:
        await asyncio.wait_for(
            member.ws_stream.close_connection(
                common.STATUS_POLICY_VIOLATION, "too slow", wait_response=False
            ),
            1.0,
        )
    except Exception:
        member.connection.close()


async def web_socket_transfer_data(request):
    outbox = asyncio.Queue(_OUTBOX_SIZE)
    _members[request] = outbox
    sender = asyncio.ensure_future(_deliver(request, outbox))
    try:
        async for message in request.ws_stream:
            if isinstance(message, str):
                _broadcast(message)
    finally:
        _members.pop(request, None)
        sender.cancel()
