"""A chat room as an async handler: every text message goes to every member.

The same channel as ``chat_wsh.py`` (``pywebsocket3.channels``): members of the blocking
and the async room talk to each other, and with ``--channels-url`` across processes and
servers. A member whose socket is full gets a bounded queue and then a Close 1008, so it
never holds up the others. The channel calls return at once: no ``await`` needed.
"""

from pywebsocket3 import channels

ROOM = "chat"


async def web_socket_do_extra_handshake(request):
    pass


async def web_socket_transfer_data(request):
    channels.subscribe(request, ROOM)
    async for message in request.ws_stream:
        if isinstance(message, str):
            channels.publish(ROOM, message)
