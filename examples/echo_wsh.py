"""Echo handler: text back as text, binary back as binary.

After echoing the text message 'Goodbye' the handler returns, so the server starts the
closing handshake (Close 1000).
"""

from pywebsocket3 import msgutil

_GOODBYE_MESSAGE = "Goodbye"


def web_socket_do_extra_handshake(request):
    # Accept every request (and every extension the client offers).
    pass


def web_socket_transfer_data(request):
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        if isinstance(message, str):
            msgutil.send_message(request, message)
            if message == _GOODBYE_MESSAGE:
                return
        else:
            msgutil.send_message(request, message, binary=True)
