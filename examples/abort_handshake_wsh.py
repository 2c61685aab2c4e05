"""Drops the connection during the opening handshake: the client gets no response at all."""

from pywebsocket3 import handshake


def web_socket_do_extra_handshake(request):
    raise handshake.AbortedByUserException("Aborted in web_socket_do_extra_handshake")


def web_socket_transfer_data(request):
    pass
