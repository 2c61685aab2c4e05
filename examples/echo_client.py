#!/usr/bin/env python3
"""Command-line echo client for /echo (uses the ``websockets`` library).

    python examples/echo_client.py -p 8880 -m 'Hello,<>'

Prints "Send: x" / "Recv: x" for every message, then closes ("Send close" / "Recv ack").
"""

import argparse
import sys

from websockets.sync.client import connect


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-s", "--server-host", "--server_host", default="localhost")
    parser.add_argument("-p", "--server-port", "--server_port", type=int, default=0)
    parser.add_argument("-o", "--origin", default=None)
    parser.add_argument("-r", "--resource", default="/echo")
    parser.add_argument("-m", "--message", default="Hello,<>", help="comma-separated messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    parser.add_argument("-t", "--tls", "--use-tls", action="store_true", help="use wss://")
    parser.add_argument("-k", "--socket-timeout", "--socket_timeout", type=float, default=10)
    parser.add_argument("--use-permessage-deflate", "--use_permessage_deflate", action="store_true")
    return parser.parse_args(argv)


def main(argv=None):
    options = _parse_args(argv)
    scheme = "wss" if options.tls else "ws"
    port = options.server_port or (443 if options.tls else 80)
    uri = "%s://%s:%d%s" % (scheme, options.server_host, port, options.resource)
    say = (lambda line: None) if options.quiet else print
    with connect(
        uri,
        origin=options.origin,
        compression="deflate" if options.use_permessage_deflate else None,
        open_timeout=options.socket_timeout,
        close_timeout=options.socket_timeout,
    ) as websocket:
        for message in options.message.split(","):
            websocket.send(message)
            say("Send: %s" % message)
            say("Recv: %s" % websocket.recv(timeout=options.socket_timeout))
        say("Send close")
        websocket.close()
        say("Recv ack")
    return 0


if __name__ == "__main__":
    sys.exit(main())
