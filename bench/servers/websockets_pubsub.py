"""Pub/sub on the `websockets` library: /sub joins a set, each message sent to /pub goes to
the set with ``broadcast()`` (no backpressure: a slow member's write buffer grows).

Usage: python websockets_pubsub.py PORT
"""

import asyncio
import sys

from websockets.asyncio.server import broadcast, serve

subscribers = set()


async def handler(websocket):
    if websocket.request.path == "/pub":
        async for message in websocket:
            broadcast(subscribers, message)
        return
    subscribers.add(websocket)
    try:
        await websocket.wait_closed()
    finally:
        subscribers.discard(websocket)


async def main(port: int) -> None:
    # No keepalive pings: the load client's subscribers only read.
    async with serve(
        handler, "127.0.0.1", port, compression=None, max_size=None, ping_interval=None
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
