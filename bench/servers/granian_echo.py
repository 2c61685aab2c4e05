"""granian's RSGI echo (bench server "granian"): one worker, one runtime thread.

Run as ``python granian_echo.py PORT``; granian imports ``granian_echo:app`` in its worker.
"""

import sys


async def app(scope, proto):
    if scope.proto != "ws":
        proto.response_str(404, [], "")
        return
    transport = await proto.accept()
    while True:
        message = await transport.receive()
        if message.kind == 0:  # closed by the client
            break
        if message.kind == 1:
            await transport.send_bytes(message.data)
        else:
            await transport.send_str(message.data)
    proto.close(1000)


if __name__ == "__main__":
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "granian_echo:app",
        address="127.0.0.1",
        port=int(sys.argv[1]),
        interface=Interfaces.RSGI,
        workers=1,
        runtime_threads=1,
        websockets=True,
    ).serve()
