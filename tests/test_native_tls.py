"""The native Server over TLS: rustls, client certificates, independent reader and writer."""

import shutil
import socket
import ssl
import subprocess

import native_support
import pytest
from native_support import (
    KEY,
    _masked,
    _read_until,
    _request,
)

make_server = native_support.make_server  # the fixture, shared with the other module


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for localhost and a client certificate (EC keys)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=ca",
        "-days",
        "2",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )
    for name, ext in (
        ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        _openssl(
            "req",
            *ec,
            "-keyout",
            name + ".key",
            "-out",
            name + ".csr",
            "-subj",
            "/CN=" + name,
            cwd=d,
        )
        (d / (name + ".ext")).write_text(ext + "\n")
        _openssl(
            "x509",
            "-req",
            "-in",
            name + ".csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            name + ".pem",
            "-days",
            "2",
            "-extfile",
            name + ".ext",
            cwd=d,
        )
    return d


def _tls_client(port, pki, path="/echo", with_cert=True):
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if with_cert:
        context.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock = context.wrap_socket(raw, server_hostname="localhost")
    sock.sendall(
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
        b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\n\r\n"
    )
    return sock


def _tls_config(pki, optional=True):
    return {
        "certificate": str(pki / "server.pem"),
        "private_key": str(pki / "server.key"),
        "client_ca": str(pki / "ca.pem"),
        "client_auth": True,
        "client_cert_optional": optional,
    }


def _recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "EOF after %d of %d bytes" % (len(data), n)
        data += chunk
    return data


def test_tls_echo_and_peer_certificate(make_server, pki):
    _, handler, port = make_server(tls=_tls_config(pki))
    sock = _tls_client(port, pki)
    assert _read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    sock.sendall(_masked(1, b"over tls"))
    assert _recv_exactly(sock, 10) == b"\x81\x08over tls"
    expected = ssl.PEM_cert_to_DER_cert((pki / "client.pem").read_text())
    assert handler.connections[0].peer_certificate() == expected
    sock.sendall(_masked(8, b""))
    assert _recv_exactly(sock, 2) == b"\x88\x00"
    sock.close()
    missing = _request(port, b"GET /echo HTTP/1.1\r\n\r\n")
    # A plain-TCP client gets no HTTP from a TLS port: at most a TLS alert record.
    assert missing == b"" or missing[:1] == b"\x15"


def test_tls_sender_is_not_blocked_by_a_blocked_receiver(make_server, pki):
    _, handler, port = make_server(tls=_tls_config(pki))
    sock = _tls_client(port, pki, "/duplex", with_cert=False)
    assert _read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    frames = _recv_exactly(sock, 200 * 5)
    assert frames == b"".join(b"\x81\x03%03d" % i for i in range(200))
    sock.sendall(_masked(1, b"now"))
    assert _recv_exactly(sock, 5) == b"\x81\x03now"
    sock.sendall(_masked(8, b""))
    assert _recv_exactly(sock, 2) == b"\x88\x00"
    sock.close()
    assert handler.finished.wait(5)


def test_tls_required_client_certificate(make_server, pki):
    _, handler, port = make_server(tls=_tls_config(pki, optional=False))
    sock = _tls_client(port, pki, with_cert=False)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        if not sock.recv(100):
            raise ConnectionResetError("closed without a response")
    assert handler.heads == []
