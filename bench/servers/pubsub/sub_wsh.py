"""Pub/sub benchmark, subscriber side (blocking handler): joins the channel, then only waits.

Messages reach the connection from the native delivery thread, not from this handler.
"""

from pywebsocket3 import channels

CHANNEL = "bench"


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    channels.subscribe(request, CHANNEL)
    while request.ws_stream.receive_message() is not None:
        pass
