"""Pushes the current UTC time (ISO 8601) once a second until the client closes.

A receiving thread notices the client's Close (receive_message returns None) while the
handler thread keeps sending.
"""

import datetime
import threading

from pywebsocket3 import msgutil

_INTERVAL_SEC = 1.0


def web_socket_do_extra_handshake(request):
    pass


def _receive_until_close(request, closed):
    try:
        while msgutil.receive_message(request) is not None:
            pass  # the clock ignores what the client says
    except Exception:
        pass
    finally:
        closed.set()


def web_socket_transfer_data(request):
    closed = threading.Event()
    receiver = threading.Thread(target=_receive_until_close, args=(request, closed), daemon=True)
    receiver.start()
    while not closed.is_set():
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        try:
            msgutil.send_message(request, now)
        except (msgutil.BadOperationException, msgutil.ConnectionTerminatedException, OSError):
            break
        closed.wait(_INTERVAL_SEC)
    receiver.join(_INTERVAL_SEC)
