"""Pub/sub benchmark, publisher side (blocking handler): every message it receives is
published to the channel as it is (binary stays binary)."""

from pywebsocket3 import channels

CHANNEL = "bench"


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        channels.publish(CHANNEL, message)
