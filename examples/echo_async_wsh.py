"""Echo as an async handler: the same behaviour as echo_wsh.py, on the asyncio loop.

Any handler file whose hooks are ``async def`` is served this way, with no flag.
"""


async def web_socket_do_extra_handshake(request):
    pass


async def web_socket_transfer_data(request):
    async for message in request.ws_stream:  # str or bytes; the loop ends at Close
        await request.ws_stream.send_message(message, binary=isinstance(message, bytes))
        if message == "Goodbye":
            return
