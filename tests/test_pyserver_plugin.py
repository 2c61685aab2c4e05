"""The pytest plugin, run through pytester the way a user's test suite would use it."""

import pytest

pytest_plugins = ["pytester"]

HANDLERS = {
    "echo_wsh.py": (
        "def web_socket_do_extra_handshake(request):\n    pass\n"
        "def web_socket_transfer_data(request):\n"
        "    while True:\n"
        "        m = request.ws_stream.receive_message()\n"
        "        if m is None:\n            return\n"
        "        request.ws_stream.send_message(m)\n"
    ),
    "stubborn_wsh.py": (
        "import time\n"
        "def web_socket_do_extra_handshake(request):\n    pass\n"
        "def web_socket_transfer_data(request):\n"
        "    request.ws_stream.send_message('in')\n"
        "    while True:\n        time.sleep(0.05)\n"
    ),
}


@pytest.fixture
def project(pytester):
    handlers = pytester.mkdir("handlers")
    for name, source in HANDLERS.items():
        (handlers / name).write_text(source)
    (pytester.path / "static.txt").write_text("hello")
    return pytester


def test_fixture_serves_handlers(project):
    project.makepyfile(
        """
        import urllib.request
        from websockets.sync.client import connect

        def test_echo(pywebsocket_server):
            server = pywebsocket_server("handlers", document_root=".")
            assert server.url == "ws://127.0.0.1:%d" % server.port
            with connect(server.url + "/echo") as ws:
                ws.send("hi")
                assert ws.recv() == "hi"
            with urllib.request.urlopen(server.http_url + "/static.txt") as r:
                assert r.read() == b"hello"

        def test_options(pywebsocket_server):
            server = pywebsocket_server("handlers", max_message_size=10)
            with connect(server.url + "/echo") as ws:
                ws.send("x" * 11)
                try:
                    ws.recv(timeout=5)
                except Exception as e:
                    assert "1009" in str(e)
                else:
                    raise AssertionError("no close")
        """
    )
    result = project.runpytest("-q")
    result.assert_outcomes(passed=2)


def test_fixture_fails_on_lingering_handler(project):
    project.makepyfile(
        """
        from websockets.sync.client import connect

        def test_leaves_a_handler_running(pywebsocket_server):
            server = pywebsocket_server("handlers", shutdown_timeout=0.5)
            ws = connect(server.url + "/stubborn")
            assert ws.recv() == "in"
        """
    )
    # In a subprocess: the plugin ends a process whose handlers never return.
    result = project.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*handler thread(s) still running after shutdown*"])
    assert result.ret == 1
