"""stream.Stream over a socketpair connection object (the embedder path), and msgutil."""

import io
import struct
import threading

import pytest
from pycore_helpers import (
    ClientConnection,
    Dispatcher,
    Request,
    client_frame,
    make_stream,
    read_server_frame,
    recv_exactly,
)
from pywebsocket3 import common, msgutil, stream
from pywebsocket3._stream_exceptions import MessageTooBigException, ProtocolViolationException


def test_send_message_framing():
    request, ws, client = make_stream()
    ws.send_message("Hello")
    assert recv_exactly(client, 7) == b"\x81\x05Hello"
    ws.send_message("\u65e5\u672c")
    assert recv_exactly(client, 8) == b"\x81\x06" + "\u65e5\u672c".encode()
    ws.send_message(b"a" * 126, binary=True)
    assert recv_exactly(client, 4 + 126) == b"\x82\x7e\x00\x7e" + b"a" * 126
    ws.send_message(b"b" * 65536, binary=True)
    assert recv_exactly(client, 10 + 65536) == b"\x82\x7f" + struct.pack("!Q", 65536) + b"b" * 65536
    ws.send_message(bytearray(b"ba"), binary=True)
    assert recv_exactly(client, 4) == b"\x82\x02ba"


def test_send_fragments():
    request, ws, client = make_stream()
    for part, end in (("Hello", False), (" ", False), ("World", False), ("!", True)):
        ws.send_message(part, end=end)
    assert recv_exactly(client, 20) == b"\x01\x05Hello\x00\x01 \x00\x05World\x80\x01!"
    ws.send_message("a", end=False)
    with pytest.raises(stream.BadOperationException):
        ws.send_message(b"b", end=True, binary=True)


def test_send_type_rules():
    request, ws, client = make_stream()
    with pytest.raises(stream.BadOperationException):
        ws.send_message("text", binary=True)
    # Lenient: UTF-8 bytes as text go out as a text frame.
    ws.send_message("caf\u00e9".encode())
    assert recv_exactly(client, 7) == b"\x81\x05caf\xc3\xa9"
    # A character split across fragments is fine; invalid UTF-8 is refused.
    ws.send_message(b"\xc3", end=False)
    ws.send_message(b"\xa9", end=True)
    assert recv_exactly(client, 6) == b"\x01\x01\xc3\x80\x01\xa9"
    with pytest.raises(stream.BadOperationException):
        ws.send_message(b"\xff")


def test_message_methods_take_flags_by_truth_and_call_subclass_hooks():
    # receive_message/send_message are native; they must behave like Python methods.
    calls = []

    class Recording(stream.Stream):
        def _process_ping_message(self, message):
            calls.append(("ping", message))
            super()._process_ping_message(message)

        def _send_message_general(self, message, end, binary):
            calls.append(("general", type(message).__name__, end, binary))
            super()._send_message_general(message, end, binary)

    request, _ws, client = make_stream()
    ws = Recording(request, stream.StreamOptions())
    ws.send_message(b"ab", binary=1)
    ws.send_message("x", end=None)
    ws.send_message("y", end=1, binary=0)
    assert recv_exactly(client, 10) == b"\x82\x02ab\x01\x01x\x80\x01y"
    ws.send_message(bytearray(b"c"), binary=True)
    assert recv_exactly(client, 3) == b"\x82\x01c"
    with pytest.raises(TypeError):
        ws.send_message(12, binary=True)
    with pytest.raises(UnicodeEncodeError):
        ws.send_message("\ud800")
    assert calls == [
        ("general", "bytearray", True, True),
        ("general", "int", True, True),
        ("general", "str", True, False),
    ]
    client.sendall(client_frame(9, b"p") + client_frame(2, b"data"))
    assert ws.receive_message() == b"data"
    assert calls[-1] == ("ping", b"p")
    assert read_server_frame(client) == (0x8A, b"p")
    assert ws.get_last_received_opcode() == common.OPCODE_BINARY
    ws._original_opcode = None
    assert ws.get_last_received_opcode() is None


def test_receive_messages():
    request, ws, client = make_stream()
    client.sendall(
        client_frame(1, b"Hello")
        + client_frame(2, b"\x00\xff")
        + client_frame(1, "\u65e5".encode()[:2], fin=0)
        + client_frame(0, "\u65e5".encode()[2:], fin=1)
        + client_frame(2, b"x" * 70000)
        + client_frame(1, b"", fin=0)
        + client_frame(0, b"", fin=1)
    )
    assert ws.receive_message() == "Hello"
    assert ws.get_last_received_opcode() == common.OPCODE_TEXT
    assert ws.receive_message() == b"\x00\xff"
    assert ws.get_last_received_opcode() == common.OPCODE_BINARY
    assert ws.receive_message() == "\u65e5"
    assert ws.receive_message() == b"x" * 70000
    assert ws.receive_message() == ""


def test_ping_pong_handling():
    request, ws, client = make_stream()
    # A ping between fragments is answered (RFC 6455; upstream refused it).
    client.sendall(
        client_frame(1, b"Hel", fin=0) + client_frame(9, b"ping!") + client_frame(0, b"lo")
    )
    assert ws.receive_message() == "Hello"
    assert read_server_frame(client) == (0x8A, b"ping!")

    pings = []
    request.on_ping_handler = lambda req, payload: pings.append((req, payload))
    client.sendall(client_frame(9, b"p2") + client_frame(1, b"after"))
    assert ws.receive_message() == "after"
    assert pings == [(request, b"p2")]

    pongs = []
    request.on_pong_handler = lambda req, payload: pongs.append(payload)
    ws.send_ping("Hello")
    assert read_server_frame(client) == (0x89, b"Hello")
    ws.send_ping(b"second")
    read_server_frame(client)
    client.sendall(client_frame(10, b"second") + client_frame(10, b"unsolicited"))
    client.sendall(client_frame(1, b"x"))
    assert ws.receive_message() == "x"
    assert pongs == [b"second", b"unsolicited"]
    with pytest.raises(stream.BadOperationException):
        ws.send_ping(b"z" * 126)
    msgutil.send_ping(request)
    assert read_server_frame(client) == (0x89, b"")


def test_peer_close_default_reply_and_state():
    request, ws, client = make_stream()
    client.sendall(client_frame(8, struct.pack("!H", 3333) + "bye \u00e9".encode()))
    assert ws.receive_message() is None
    assert request.ws_close_code == 3333
    assert request.ws_close_reason == "bye \u00e9"
    assert request.client_terminated and request.server_terminated
    assert read_server_frame(client) == (0x88, b"\x03\xe8")
    with pytest.raises(stream.BadOperationException):
        ws.receive_message()
    with pytest.raises(stream.BadOperationException):
        ws.send_message("late")
    ws.close_connection()  # already closed: nothing more is sent
    client.setblocking(False)
    with pytest.raises(BlockingIOError):
        client.recv(1)


def test_peer_close_passive_hook():
    def echo_close(request):
        if request.ws_close_code == common.STATUS_NO_STATUS_RECEIVED:
            return None, "ignored reason"
        return request.ws_close_code, request.ws_close_reason

    request, ws, client = make_stream(dispatcher=Dispatcher(passive_closing=echo_close))
    client.sendall(client_frame(8, b""))
    assert ws.receive_message() is None
    assert request.ws_close_code == 1005 and request.ws_close_reason is None
    assert read_server_frame(client) == (0x88, b"")

    request, ws, client = make_stream(dispatcher=Dispatcher(passive_closing=echo_close))
    client.sendall(client_frame(8, struct.pack("!H", 4000) + b"sunsun"))
    assert ws.receive_message() is None
    assert read_server_frame(client) == (0x88, struct.pack("!H", 4000) + b"sunsun")

    request, ws, client = make_stream(
        dispatcher=Dispatcher(passive_closing=lambda request: (1000, None))
    )
    client.sendall(client_frame(8, struct.pack("!H", 1001)))
    assert ws.receive_message() is None
    assert read_server_frame(client) == (0x88, b"\x03\xe8")


def test_private_close_processing_called_directly():
    request, ws, client = make_stream()
    with pytest.raises(stream.InvalidFrameException):
        ws._process_close_message(b"\x03")
    ws._process_close_message(struct.pack("!H", 1000) + b"ok\xff")
    assert request.ws_close_reason == "ok\ufffd"
    assert read_server_frame(client) == (0x88, b"\x03\xe8")


def test_close_connection_waits_for_ack():
    request, ws, client = make_stream()
    result = {}

    def close():
        try:
            ws.close_connection(3000, "done")
            result["ok"] = True
        except Exception as e:  # reported below
            result["error"] = e

    closer = threading.Thread(target=close)
    closer.start()
    assert read_server_frame(client) == (0x88, struct.pack("!H", 3000) + b"done")
    assert closer.is_alive(), "close_connection must wait for the peer's Close"
    # A ping while waiting is answered, then the Close ends the wait.
    client.sendall(client_frame(9, b"p") + client_frame(8, struct.pack("!H", 1000)))
    closer.join(10)
    assert result == {"ok": True}
    assert read_server_frame(client) == (0x8A, b"p")
    assert request.server_terminated and request.client_terminated
    with pytest.raises(stream.BadOperationException):
        ws.send_message("x")


def test_close_connection_variants():
    request, ws, client = make_stream()
    client.sendall(client_frame(1, b"not a close"))
    with pytest.raises(stream.ConnectionTerminatedException, match="valid ack"):
        ws.close_connection()

    for code in (common.STATUS_GOING_AWAY, common.STATUS_PROTOCOL_ERROR):
        request, ws, client = make_stream()
        ws.close_connection(code)  # returns without waiting
        assert read_server_frame(client) == (0x88, struct.pack("!H", code))

    request, ws, client = make_stream()
    ws.close_connection(None, wait_response=False)
    assert read_server_frame(client) == (0x88, b"")

    request, ws, client = make_stream()
    ws.close_connection(4999, b"bytes reason", wait_response=False)
    assert read_server_frame(client) == (0x88, struct.pack("!H", 4999) + b"bytes reason")

    request, ws, client = make_stream()
    with pytest.raises(stream.BadOperationException):
        ws.close_connection(None, "reason")
    with pytest.raises(stream.BadOperationException):
        ws.close_connection(1000, 5)
    for code in (999, 1005, 1006, 1015, 5000):
        with pytest.raises(stream.BadOperationException):
            ws.close_connection(code)
    with pytest.raises(stream.BadOperationException):
        ws.close_connection(1000, "x" * 124)
    assert not request.server_terminated
    ws.close_connection(1000, "x" * 123, wait_response=False)
    assert read_server_frame(client) == (0x88, b"\x03\xe8" + b"x" * 123)


@pytest.mark.parametrize(
    "data,exception",
    [
        (client_frame(1, b"unmasked", masked=False), stream.InvalidFrameException),
        (client_frame(1, b"x", rsv3=1), ProtocolViolationException),
        (client_frame(3, b"x"), ProtocolViolationException),
        (client_frame(0, b"x"), stream.InvalidFrameException),
        (client_frame(1, b"a", fin=0) + client_frame(1, b"b"), stream.InvalidFrameException),
        (client_frame(9, b"x", fin=0), stream.InvalidFrameException),
        (client_frame(9, b"x" * 126), stream.InvalidFrameException),
        (client_frame(1, b"\x80"), stream.InvalidUTF8Exception),
        (client_frame(1, b"ok\xff", fin=0), stream.InvalidUTF8Exception),
        (client_frame(8, b"\x03"), stream.InvalidFrameException),
        (client_frame(8, struct.pack("!H", 999)), stream.InvalidFrameException),
        (b"\x81", stream.ConnectionTerminatedException),
    ],
)
def test_receive_errors(data, exception):
    request, ws, client = make_stream()
    client.sendall(data)
    if data == b"\x81":
        client.close()
    with pytest.raises(exception):
        ws.receive_message()


def test_protocol_violation_is_still_unsupported_frame():
    assert issubclass(ProtocolViolationException, stream.UnsupportedFrameException)
    assert issubclass(ProtocolViolationException, stream.InvalidFrameException)


def test_message_size_limit():
    options = stream.StreamOptions()
    options.max_message_size = 10
    request, ws, client = make_stream(options)
    client.sendall(client_frame(2, b"0123456789") + client_frame(2, b"x" * 11))
    assert ws.receive_message() == b"0123456789"
    with pytest.raises(MessageTooBigException):
        ws.receive_message()


def test_raw_io_and_private_frame_methods():
    request, ws, client = make_stream()
    client.sendall(b"line\nraw" + client_frame(1, b"Hel", fin=0) + client_frame(0, b"lo"))
    assert ws._read_until(b"\n") == b"line"
    assert ws.receive_bytes(3) == b"raw"
    assert ws._receive_frame() == (1, b"Hel", 0, 0, 0, 0)
    frame = ws._receive_frame_as_frame_object()
    assert (frame.opcode, frame.payload, frame.fin) == (0, b"lo", 1)
    assert ws._get_message_from_frame(stream.Frame(fin=0, opcode=1, payload=b"Hel")) is None
    assert ws._get_message_from_frame(frame) == b"Hello"
    assert ws.get_last_received_opcode() == common.OPCODE_TEXT
    client.sendall(client_frame(2, b"filtered"))
    filtered = ws.receive_filtered_frame()
    assert (filtered.opcode, filtered.payload) == (2, b"filtered")
    ws._write(b"\x81\x02hi")
    ws._send_closing_handshake(1000, "")
    assert recv_exactly(client, 4) == b"\x81\x02hi"
    assert read_server_frame(client) == (0x88, b"\x03\xe8")
    assert request.server_terminated
    assert ws._options.mask_send is False
    assert ws._read(0) == b""


def test_write_error_names_the_peer():
    request, ws, client = make_stream()
    client.close()
    with pytest.raises(OSError, match="Failed to send message to"):
        for _ in range(100):
            ws.send_message(b"x" * 65536, binary=True)


def test_client_mode_streams_talk_to_each_other():
    server_request, server, sock = make_stream()
    client_request = Request(ClientConnection(sock), [])
    options = stream.StreamOptions()
    options.mask_send = True
    options.unmask_receive = False
    client = stream.Stream(client_request, options)

    client.send_message("Hello")
    assert server.receive_message() == "Hello"
    server.send_message(b"\x00\x01", binary=True)
    assert client.receive_message() == b"\x00\x01"
    done = threading.Thread(target=server.receive_message)
    done.start()
    client.close_connection()
    done.join(10)
    assert server_request.ws_close_code == 1000
    assert client_request.server_terminated and client_request.client_terminated


def test_frame_helpers():
    assert stream.create_header(1, 5, 1, 0, 0, 0, False) == b"\x81\x05"
    assert stream.create_header(2, 126, 0, 1, 0, 0, True) == b"\x42\xfe\x00\x7e"
    assert stream.create_length_header(65536, False) == b"\x7f" + struct.pack("!Q", 65536)
    for args in (
        (-1, 0, 1, 0, 0, 0, False),
        (16, 0, 1, 0, 0, 0, False),
        (1, -1, 1, 0, 0, 0, False),
        (1, 1 << 63, 1, 0, 0, 0, False),
        (1, 0, 2, 0, 0, 0, False),
        (1, 0, 1, 0, 0, 2, False),
    ):
        with pytest.raises(ValueError):
            stream.create_header(*args)
    assert stream.create_text_frame("Hello") == b"\x81\x05Hello"
    assert stream.create_binary_frame(b"\x00", fin=0) == b"\x02\x01\x00"
    assert stream.create_close_frame(b"\x03\xe8") == b"\x88\x02\x03\xe8"
    assert stream.create_pong_frame(b"") == b"\x8a\x00"
    with pytest.raises(stream.BadOperationException):
        stream.create_ping_frame(b"x" * 126)
    masked = stream.create_ping_frame(b"abc", mask=True)
    assert masked[:2] == b"\x89\x83"
    key = masked[2:6]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(masked[6:])) == b"abc"
    assert stream.create_closing_handshake_body(None, "") == b""
    assert stream.create_closing_handshake_body(1000, "\u00e9") == b"\x03\xe8\xc3\xa9"
    with pytest.raises(stream.BadOperationException):
        stream.create_closing_handshake_body(1015, "")

    builder = stream.FragmentedFrameBuilder(False)
    assert builder.build("a", False, False) == b"\x01\x01a"
    with pytest.raises(ValueError):
        builder.build(b"b", True, True)
    assert builder.build("b", True, False) == b"\x80\x01b"

    reader = io.BytesIO(client_frame(2, b"payload")).read
    assert stream.parse_frame(reader) == (2, b"payload", 1, 0, 0, 0)
    reader = io.BytesIO(b"\x81\x02hi").read
    assert stream.parse_frame(reader, unmask_receive=False) == (1, b"hi", 1, 0, 0, 0)
    with pytest.raises(stream.InvalidFrameException):
        stream.parse_frame(io.BytesIO(b"\x81\x02hi").read)


def test_msgutil_threads():
    request, ws, client = make_stream()
    received = []
    got_two = threading.Event()

    def on_message(message):
        received.append(message)
        if len(received) == 2:
            got_two.set()

    receiver = msgutil.MessageReceiver(request, on_message)
    client.sendall(client_frame(1, b"one") + client_frame(2, b"two"))
    assert got_two.wait(10)
    assert received == ["one", b"two"]
    sender = msgutil.MessageSender(request)
    sender.send("sent")
    assert read_server_frame(client) == (0x81, b"sent")
    sender.send_nowait("later")
    assert read_server_frame(client) == (0x81, b"later")
    # The receiver's loop ends at the Close; it then closes (already replied: no-op).
    client.sendall(client_frame(8, b"\x03\xe8"))
    receiver.join(10)
    assert not receiver.is_alive()
    assert read_server_frame(client) == (0x88, b"\x03\xe8")

    request, ws, client = make_stream()
    queued = msgutil.MessageReceiver(request)
    assert queued.receive_nowait() is None
    client.sendall(client_frame(1, b"q"))
    assert queued.receive() == "q"
    msgutil.send_message(request, "m")
    assert read_server_frame(client) == (0x81, b"m")
    client.sendall(client_frame(1, b"direct"))
    assert queued.receive() == "direct"
