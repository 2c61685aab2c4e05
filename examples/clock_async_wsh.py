"""Pushes the current UTC time once a second (asyncio.sleep) until the client closes."""

import asyncio
import datetime

_INTERVAL_SEC = 1.0


async def web_socket_do_extra_handshake(request):
    pass


async def _tick(request):
    while True:
        now = datetime.datetime.now(datetime.timezone.utc)
        await request.ws_stream.send_message(now.isoformat())
        await asyncio.sleep(_INTERVAL_SEC)


async def web_socket_transfer_data(request):
    ticking = asyncio.ensure_future(_tick(request))
    try:
        async for _ in request.ws_stream:
            pass  # the clock ignores what the client says
    finally:
        ticking.cancel()
