"""The standalone server's command line: pywebsocket's options, both spellings of each, and
the options pywebsocket never had (see ``standalone``'s docstring)."""

import argparse

from pywebsocket3 import common
from pywebsocket3.websocket_server import DEFAULT_MAX_MESSAGE_SIZE

_DEFAULT_LOG_MAX_BYTES = 1024 * 256
_DEFAULT_LOG_BACKUP_COUNT = 5
_DEFAULT_REQUEST_QUEUE_SIZE = 128
_LOG_LEVELS = ["fine", "debug", "info", "warning", "warn", "error", "critical"]


def _flags(name, *short):
    """A long option in both spellings (dash and underscore), after any short flags."""
    spellings = list(short) + ["--" + name]
    if "-" in name:
        spellings.append("--" + name.replace("-", "_"))
    return spellings


def _build_option_parser():
    """The argparse parser for every pywebsocket flag plus ours."""
    parser = argparse.ArgumentParser(description="pywebsocket standalone WebSocket server")
    add = parser.add_argument
    add("--config", dest="config_file", default=None, help="configuration file ([pywebsocket])")
    add(*_flags("server-host", "-H"), dest="server_host", default="", help="host to listen on")
    add(
        *_flags("validation-host", "-V"),
        dest="validation_host",
        default=None,
        help="host expected in an absolute ws:// request target",
    )
    add(
        "-p",
        "--port",
        dest="port",
        type=int,
        default=common.DEFAULT_WEB_SOCKET_PORT,
        help="port to listen on (0: any free port)",
    )
    add(
        *_flags("validation-port", "-P"),
        dest="validation_port",
        type=int,
        default=None,
        help="port expected in an absolute ws:// request target",
    )
    add(
        *_flags("websock-handlers", "-w"),
        dest="websock_handlers",
        default=".",
        help="root of the *_wsh.py handlers (relative to the document root)",
    )
    add(
        *_flags("websock-handlers-map-file", "-m"),
        dest="websock_handlers_map_file",
        default=None,
        help="alias map: lines of 'alias_resource existing_resource'",
    )
    add(
        *_flags("scan-dir", "-s"),
        dest="scan_dir",
        default=None,
        help="load only handlers under this directory (inside the handler root)",
    )
    add(
        *_flags("allow-handlers-outside-root-dir"),
        dest="allow_handlers_outside_root_dir",
        action="store_true",
        default=False,
        help="load handlers whose real path lies outside the handler root",
    )
    add(*_flags("document-root", "-d"), dest="document_root", default=".", help="document root")
    add(
        *_flags("cgi-paths", "-x"),
        dest="cgi_paths",
        default=None,
        help="comma-separated URL prefixes served as CGI (e.g. /cgi-bin,/htbin)",
    )
    add("-t", "--tls", dest="use_tls", action="store_true", default=False, help="wss:// only")
    add(*_flags("private-key", "-k"), dest="private_key", default="", help="TLS private key")
    add("-c", "--certificate", dest="certificate", default="", help="TLS certificate")
    add(
        *_flags("tls-client-auth"),
        dest="tls_client_auth",
        action="store_true",
        default=False,
        help="require a TLS client certificate",
    )
    add(
        *_flags("tls-client-cert-optional"),
        dest="tls_client_cert_optional",
        action="store_true",
        default=False,
        help="with --tls-client-auth: a client certificate is optional",
    )
    add(
        *_flags("tls-client-ca"),
        dest="tls_client_ca",
        default="",
        help="CA certificates (PEM) that client certificates are checked against",
    )
    add(
        *_flags("basic-auth"),
        dest="use_basic_auth",
        action="store_true",
        default=False,
        help="require HTTP Basic authentication on every request",
    )
    add(
        *_flags("basic-auth-credential"),
        dest="basic_auth_credential",
        default="test:test",
        help="user:password for --basic-auth",
    )
    add(*_flags("log-file", "-l"), dest="log_file", default="", help="log file (rotated)")
    add(*_flags("log-level"), dest="log_level", default="warn", choices=_LOG_LEVELS)
    add(
        *_flags("deflate-log-level"),
        dest="deflate_log_level",
        default="warn",
        choices=_LOG_LEVELS[1:],
        help="log level of the deflate helpers",
    )
    add(
        *_flags("thread-monitor-interval-in-sec"),
        dest="thread_monitor_interval_in_sec",
        type=int,
        default=-1,
        help="if positive, log the live threads at this interval",
    )
    add(*_flags("log-max"), dest="log_max", type=int, default=_DEFAULT_LOG_MAX_BYTES)
    add(*_flags("log-count"), dest="log_count", type=int, default=_DEFAULT_LOG_BACKUP_COUNT)
    add(
        "-q",
        "--queue",
        dest="request_queue_size",
        type=int,
        default=_DEFAULT_REQUEST_QUEUE_SIZE,
        help="listen backlog",
    )
    add(
        *_flags("handler-encoding"),
        dest="handler_encoding",
        default=None,
        help="encoding of handler sources (default: coding cookie, else UTF-8)",
    )
    # Limits and timeouts (not in pywebsocket).
    add(
        *_flags("handshake-timeout"),
        dest="handshake_timeout",
        type=float,
        default=10.0,
        help="seconds for the whole request head (and TLS handshake) to arrive",
    )
    add(
        *_flags("max-message-size"),
        dest="max_message_size",
        type=int,
        default=DEFAULT_MAX_MESSAGE_SIZE,
        help="largest message accepted, in bytes; larger ones close with 1009",
    )
    add(
        *_flags("max-connections"),
        dest="max_connections",
        type=int,
        default=0,
        help="most open WebSocket connections (0: no limit); more get 503",
    )
    add(
        *_flags("ping-interval"),
        dest="ping_interval",
        type=float,
        default=None,
        help="ping every connection this often, in seconds (default: off)",
    )
    add(
        *_flags("ping-timeout"),
        dest="ping_timeout",
        type=float,
        default=None,
        help="close (1011) a connection whose pong is this late, in seconds",
    )
    add(
        *_flags("shutdown-timeout"),
        dest="shutdown_timeout",
        type=float,
        default=5.0,
        help="seconds handlers get to return after SIGTERM/SIGINT",
    )
    add(
        *_flags("no-write-coalescing"),
        dest="write_coalescing",
        action="store_false",
        default=True,
        help="write every reply at once, even to a client that pipelined more messages",
    )
    add(
        *_flags("trusted-proxy"),
        dest="trusted_proxy",
        action="append",
        default=None,
        metavar="CIDR",
        help="a proxy or load balancer (address or network, IPv4 or IPv6; repeatable, or "
        "comma-separated) whose X-Forwarded-For/Forwarded headers and PROXY protocol header "
        "name the client",
    )
    add(
        *_flags("proxy-protocol"),
        dest="proxy_protocol",
        choices=("v1", "v2", "auto"),
        default=None,
        help="connections from a --trusted-proxy start with this PROXY protocol header "
        "(auto: v1 or v2); others must not send one",
    )
    add(
        "--greenlets",
        dest="greenlets",
        action="store_true",
        default=False,
        help="run handlers as greenlets on one thread per process (handlers must wait only "
        "on their WebSocket; needs the greenlet package)",
    )
    add(
        "--event-loop",
        dest="event_loop",
        choices=("asyncio", "uvloop"),
        default=None,
        help="the asyncio loop async handler files run on (default: uvloop when installed)",
    )
    add(
        *_flags("channels-url"),
        dest="channels_url",
        default=None,
        metavar="URL",
        help="backend of pywebsocket3.channels: redis://HOST:PORT/DB shares channels with every "
        "process and server using that Redis (default: in-process only)",
    )
    add(
        *_flags("channels-queue-limit"),
        dest="channels_queue_limit",
        type=int,
        default=None,
        metavar="BYTES",
        help="bytes of channel messages queued for one member at most; past it the member is "
        "closed with 1008 (default 1048576)",
    )
    add(
        "--workers",
        dest="workers",
        type=int,
        default=1,
        help="processes sharing the listening sockets",
    )
    # Accepted for old mod_pywebsocket command lines; they do nothing.
    add(*_flags("tls-module"), dest="tls_module", default=None, help=argparse.SUPPRESS)
    add(
        *_flags("allow-draft75"),
        dest="allow_draft75",
        action="store_true",
        default=False,
        help=argparse.SUPPRESS,
    )
    add("--strict", dest="strict", action="store_true", default=False, help=argparse.SUPPRESS)
    return parser
