"""Pub/sub on socketify (uWebSockets' native topics): /sub subscribes at open, each message
sent to /pub is published to the topic with ``app.publish``. Compression off; a member may
have 1 MiB pending before uWS drops messages for it (ours closes a member past 1 MiB).

Run as ``python socketify_pubsub.py PORT``. Needs Debian's libuv1.
"""

import sys

from socketify import App, CompressOptions

TOPIC = "bench"


def main(port: int) -> None:
    app = App()
    common = {
        "compression": CompressOptions.DISABLED,
        "max_payload_length": 64 * 1024 * 1024,
        "max_backpressure": 1024 * 1024,
        "idle_timeout": 0,
    }
    app.ws("/sub", {**common, "open": lambda ws: ws.subscribe(TOPIC)})
    app.ws(
        "/pub",
        {**common, "message": lambda ws, message, opcode: app.publish(TOPIC, message, opcode)},
    )
    app.listen(port, lambda config: None)
    app.run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
