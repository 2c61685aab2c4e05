"""Chooses the first subprotocol the client offers, then echoes "<protocol>: <message>"."""

from pywebsocket3 import msgutil


def web_socket_do_extra_handshake(request):
    if request.ws_requested_protocols:
        request.ws_protocol = request.ws_requested_protocols[0]


def web_socket_transfer_data(request):
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        msgutil.send_message(request, "%s: %s" % (request.ws_protocol, message))
