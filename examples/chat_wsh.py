"""A chat room: every text message is broadcast to every connected client (sender included).

Handler files are loaded once, so the module globals below are shared by all connections;
each connection runs on its own thread, hence the locks.
"""

import threading

from pywebsocket3 import msgutil

_members_lock = threading.Lock()
# request -> lock that serializes the sends of the many broadcasting threads to that client
_members = {}


def web_socket_do_extra_handshake(request):
    pass


def _broadcast(text):
    with _members_lock:
        members = list(_members.items())
    for member, send_lock in members:
        try:
            with send_lock:
                msgutil.send_message(member, text)
        except Exception:
            # A member that left (or is closing) simply misses the message.
            _leave(member)


def _leave(request):
    with _members_lock:
        _members.pop(request, None)


def web_socket_transfer_data(request):
    with _members_lock:
        _members[request] = threading.Lock()
    try:
        while True:
            message = msgutil.receive_message(request)
            if message is None:
                return
            if isinstance(message, str):
                _broadcast(message)
    finally:
        _leave(request)
