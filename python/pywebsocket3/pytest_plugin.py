"""pytest plugin: test your handler directory against a real in-process server.

Registered through the ``pytest11`` entry point, so installing the package is
enough::

    def test_echo(pywebsocket_server):
        server = pywebsocket_server("handlers")  # directory of *_wsh.py files
        with websockets.sync.client.connect(server.url + "/echo") as ws:
            ws.send("hi")
            assert ws.recv() == "hi"

``pywebsocket_server(handler_dir, document_root=None, **options)`` starts a
server on 127.0.0.1 with a free port, serving in a background thread; keyword
arguments set options by their ``dest`` names (``max_message_size=1024``,
``use_basic_auth=True``, ...). At teardown every server is shut down (open
WebSockets get Close 1001) and the test fails if a handler is still running.

A handler thread that never returns cannot be stopped, and would crash the
interpreter at exit; so when one is left, the plugin ends the pytest process
with its exit status right after the session, like ``os._exit``.
"""

import os
import sys
import threading

import pytest

_DEFAULT_TEST_SHUTDOWN_TIMEOUT = 2.0
# Servers whose handlers were still running at teardown.
_LINGERING = []


class RunningServer:
    """A server started by the fixture: ``url``, ``port``, ``server``, ``options``."""

    def __init__(self, server, options, thread):
        self.server = server
        self.options = options
        self.port = server.server_port
        self.url = "ws://127.0.0.1:%d" % self.port
        self.http_url = "http://127.0.0.1:%d" % self.port
        self._thread = thread
        self._stopped = False

    def stop(self):
        """Shut the server down; returns the number of handlers still running."""
        if self._stopped:
            return 0
        self._stopped = True
        self.server.shutdown()
        self._thread.join(30)
        lingering = self.server.active_connections()
        self.server.server_close()
        return lingering


def start_server(handler_dir, document_root=None, **options):
    """Start a WebSocketServer for ``handler_dir`` on 127.0.0.1:0; returns RunningServer."""
    from pywebsocket3 import standalone

    opts, _ = standalone._parse_args_and_config(
        ["-H", "127.0.0.1", "-p", "0", "-w", os.path.abspath(handler_dir)]
    )
    opts.scan_dir = None
    opts.cgi_directories = []
    opts.is_executable_method = None
    opts.shutdown_timeout = _DEFAULT_TEST_SHUTDOWN_TIMEOUT
    if document_root is not None:
        opts.static_root = os.path.abspath(document_root)
    for name, value in options.items():
        setattr(opts, name, value)
    if opts.use_basic_auth and not opts.basic_auth_credential.startswith("Basic "):
        import base64

        opts.basic_auth_credential = (
            "Basic " + base64.b64encode(opts.basic_auth_credential.encode()).decode()
        )
    server = standalone.WebSocketServer(opts)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    return RunningServer(server, opts, thread)


@pytest.fixture
def pywebsocket_server():
    """Factory fixture: ``pywebsocket_server(handler_dir, document_root=None, **options)``."""
    started = []

    def factory(handler_dir, document_root=None, **options):
        running = start_server(handler_dir, document_root, **options)
        started.append(running)
        return running

    yield factory
    lingering = []
    for running in started:
        count = running.stop()
        if count:
            lingering.append((running.url, count))
            _LINGERING.append(running.server)
    if lingering:
        pytest.fail(
            "handler thread(s) still running after shutdown: %s"
            % ", ".join("%s (%d)" % item for item in lingering),
            pytrace=False,
        )


def pytest_sessionfinish(session, exitstatus):
    session.config._pywebsocket_exitstatus = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if not any(server.active_connections() for server in _LINGERING):
        return
    status = getattr(config, "_pywebsocket_exitstatus", 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
