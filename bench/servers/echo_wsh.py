"""Echo handler for the benchmark: the same file runs under ours and under pywebsocket3."""


def web_socket_do_extra_handshake(request):
    pass  # Accept every client.


def web_socket_transfer_data(request):
    stream = request.ws_stream
    while True:
        message = stream.receive_message()
        if message is None:
            return
        stream.send_message(message, binary=isinstance(message, bytes))
