"""Pub/sub benchmark, subscriber side as an ``async def`` handler (asyncio loop)."""

from pywebsocket3 import channels

CHANNEL = "bench"


async def web_socket_do_extra_handshake(request):
    pass


async def web_socket_transfer_data(request):
    channels.subscribe(request, CHANNEL)
    async for _message in request.ws_stream:
        pass
