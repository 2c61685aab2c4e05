"""Echo server on picows (frame-level API: each frame is echoed as it arrives).

Usage: python picows_echo.py PORT [--uvloop]
"""

import asyncio
import sys

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

ECHOED = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION)


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in ECHOED:
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


async def main(port: int) -> None:
    server = await ws_create_server(
        lambda _request: Echo(), "127.0.0.1", port, max_frame_size=64 << 20
    )
    await server.serve_forever()


if __name__ == "__main__":
    if "--uvloop" in sys.argv[2:]:
        import uvloop

        uvloop.run(main(int(sys.argv[1])))
    else:
        asyncio.run(main(int(sys.argv[1])))
