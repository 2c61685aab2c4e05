"""Pub/sub benchmark, publisher side as an ``async def`` handler: publishes what it receives."""

from pywebsocket3 import channels

CHANNEL = "bench"


async def web_socket_do_extra_handshake(request):
    pass


async def web_socket_transfer_data(request):
    async for message in request.ws_stream:
        channels.publish(CHANNEL, message)
