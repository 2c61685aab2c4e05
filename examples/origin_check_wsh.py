"""Accepts only pages from http://example.com (anything else gets 403).

After the handshake it writes a line of raw bytes (not a WebSocket frame) to the socket,
showing that handlers can reach the connection underneath the protocol.
"""


def web_socket_do_extra_handshake(request):
    if request.ws_origin != "http://example.com":
        raise ValueError("Unacceptable origin: %r" % request.ws_origin)


def web_socket_transfer_data(request):
    note = "origin_check_wsh.py is called for %s, %s" % (request.ws_resource, request.ws_protocol)
    request.connection.write(note.encode("utf-8"))
