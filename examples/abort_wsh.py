"""Accepts the connection, then drops it without a Close frame."""

from pywebsocket3 import handshake


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    raise handshake.AbortedByUserException("Aborted in web_socket_transfer_data")
