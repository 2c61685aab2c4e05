"""Sets or clears cookies through the 101 response, chosen by the query string.

/cookie?set sets foo=bar, /cookie?set_httponly sets an HttpOnly cookie, /cookie?clear
expires both.
"""

from urllib.parse import urlsplit


def web_socket_do_extra_handshake(request):
    query = urlsplit(request.uri).query
    if query == "set":
        request.extra_headers.append(("Set-Cookie", "foo=bar; Max-Age=86400"))
    elif query == "set_httponly":
        request.extra_headers.append(("Set-Cookie", "httpOnlyFoo=bar; Max-Age=86400; HttpOnly"))
    elif query == "clear":
        request.extra_headers.append(("Set-Cookie", "foo=0; Max-Age=0"))
        request.extra_headers.append(("Set-Cookie", "httpOnlyFoo=0; Max-Age=0; HttpOnly"))


def web_socket_transfer_data(request):
    # Nothing to say: returning makes the server close with 1000.
    pass
