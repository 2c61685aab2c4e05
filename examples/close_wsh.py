"""Closing handshake playground.

A text message "<code> <reason>" makes the server close with that code and reason. When the
client closes first, the reply repeats the client's code and reason (no code: empty body).
"""

from pywebsocket3 import common, msgutil


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        code, _, reason = message.partition(" ")
        request.ws_stream.close_connection(int(code), reason)
        return


def web_socket_passive_closing_handshake(request):
    if request.ws_close_code == common.STATUS_NO_STATUS_RECEIVED:
        return None, ""
    return request.ws_close_code, request.ws_close_reason
