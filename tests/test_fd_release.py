"""A finished connection's descriptor closes when its handler returns, as upstream's did.

The request and its Stream refer to each other, so the Python objects of a finished connection
wait for the cycle collector; pywebsocket closed the socket itself when the handler returned.
The handler here turns the collector off, so a descriptor that waits for it is never closed.
"""

import os

import pytest
from conftest import OP_TEXT, open_ws

HANDLER = """
import gc

gc.disable()  # as if the heap were large and full collections rare


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    message = request.ws_stream.receive_message()
    if message is not None:
        request.ws_stream.send_message(message)
"""
ASYNC_HANDLER = """
import gc

gc.disable()


async def web_socket_do_extra_handshake(request):
    pass


async def web_socket_transfer_data(request):
    message = await request.ws_stream.receive_message()
    if message is not None:
        await request.ws_stream.send_message(message)
"""
MODES = {
    "threads": ([], HANDLER),
    "greenlets": (["--greenlets"], HANDLER),
    "async": ([], ASYNC_HANDLER),
}
CONNECTIONS = 300


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


@pytest.mark.parametrize("mode", MODES)
def test_descriptors_close_without_the_cycle_collector(server_factory, tmp_path, mode):
    argv, source = MODES[mode]
    (tmp_path / "nogc_wsh.py").write_text(source)
    server = server_factory(tmp_path, *argv, handlers=tmp_path)
    with open_ws(server.port, "/nogc") as conn:  # loads the handler (and turns gc off)
        conn.send_frame(OP_TEXT, b"first")
        assert conn.recv_frame().payload == b"first"
        conn.close_handshake()
        conn.read_to_eof()
    before = open_fds(server.pid)
    for index in range(CONNECTIONS):
        with open_ws(server.port, "/nogc") as conn:
            conn.send_frame(OP_TEXT, b"%d" % index)
            assert conn.recv_frame().payload == b"%d" % index
            conn.close_handshake()
            conn.read_to_eof()  # the server's FIN: its handler has returned
    assert open_fds(server.pid) - before < 20
