"""Adds a Strict-Transport-Security header to the 101 and says Hello."""

from pywebsocket3 import msgutil


def web_socket_do_extra_handshake(request):
    request.extra_headers.append(("Strict-Transport-Security", "max-age=86400"))


def web_socket_transfer_data(request):
    msgutil.send_message(request, "Hello")
