"""socketify's echo (uWebSockets; bench server "socketify"), compression off.

Run as ``python socketify_echo.py PORT``. Needs Debian's libuv1.
"""

import sys

from socketify import App, CompressOptions


def on_message(ws, message, opcode):
    ws.send(message, opcode)


if __name__ == "__main__":
    app = App()
    app.ws(
        "/*",
        {
            "compression": CompressOptions.DISABLED,
            "max_payload_length": 64 * 1024 * 1024,
            "idle_timeout": 0,
            "message": on_message,
        },
    )
    app.listen(int(sys.argv[1]), lambda config: None)
    app.run()
