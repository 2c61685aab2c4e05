"""Fails inside the data transfer: the server closes with 1011 (internal endpoint error)."""

from pywebsocket3 import msgutil


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    raise msgutil.BadOperationException("Intentional")
