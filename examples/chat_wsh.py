"""A chat room: every text message is broadcast to every member (sender included).

The room is a channel (``pywebsocket3.channels``): the native delivery thread writes each
message to every member, and a member too slow to keep up is closed (1008) instead of
holding up the others. Run with ``--channels-url redis://...`` and the room spans every
``--workers`` process and every server sharing that Redis.
"""

from pywebsocket3 import channels, msgutil

ROOM = "chat"


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    channels.subscribe(request, ROOM)
    while True:
        message = msgutil.receive_message(request)
        if message is None:
            return
        if isinstance(message, str):
            channels.publish(ROOM, message)
