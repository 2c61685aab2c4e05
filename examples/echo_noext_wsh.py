"""Echo handler that refuses every extension (permessage-deflate is never negotiated)."""

from pywebsocket3 import msgutil


def web_socket_do_extra_handshake(request):
    request.ws_extension_processors = []


def web_socket_transfer_data(request):
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        if isinstance(message, str):
            msgutil.send_message(request, message)
            if message == "Goodbye":
                return
        else:
            msgutil.send_message(request, message, binary=True)
