"""The benchmark's echo as an async handler file (server "ours-async")."""


async def web_socket_do_extra_handshake(request):
    pass


async def web_socket_transfer_data(request):
    stream = request.ws_stream
    async for message in stream:
        await stream.send_message(message, binary=isinstance(message, bytes))
