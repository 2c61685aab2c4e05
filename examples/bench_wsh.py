"""Load generator: each message "<wait> <count> <text>" is answered by <count> copies of
<text>, sent <wait> seconds apart."""

import time

from pywebsocket3 import msgutil


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    while True:
        command = msgutil.receive_message(request)
        if command is None:
            return
        wait, count, text = command.split(" ", 2)
        for index in range(int(count)):
            if index:
                time.sleep(float(wait))
            msgutil.send_message(request, text)
