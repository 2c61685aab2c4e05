"""Echo server on the `websockets` asyncio implementation.

Usage: python websockets_echo.py PORT [--deflate]
"""

import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def main(port: int, deflate: bool) -> None:
    compression = "deflate" if deflate else None
    async with serve(echo, "127.0.0.1", port, compression=compression, max_size=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), "--deflate" in sys.argv[2:]))
