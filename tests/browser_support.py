"""Helpers for the real-browser suite: the server process, headless Chromium, a test certificate."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Lets the same suite run against another build of the server (e.g. the original pywebsocket3).
SERVER_PYTHON = os.environ.get("PYWS_BROWSER_PYTHON", sys.executable)

# Flags from issue 7, plus a resolver rule so that no host name can resolve to anything.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--no-default-browser-check",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=1400,900",
]


def make_test_certificate(directory: Path) -> tuple[Path, Path, str]:
    """A self-signed P-256 certificate for 127.0.0.1 made with the openssl CLI.

    Returns (certificate, key, base64 SHA-256 of the SubjectPublicKeyInfo) for Chromium's
    --ignore-certificate-errors-spki-list.
    """
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key_path), "-out", str(cert_path), "-days", "7",
            "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-addext", "basicConstraints=critical,CA:FALSE",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    spki = subprocess.run(
        ["openssl", "pkey", "-in", str(key_path), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return cert_path, key_path, base64.b64encode(hashlib.sha256(spki).digest()).decode()


def start_chromium(profile_dir: Path, trusted_spki: str | None = None):
    """Headless Chromium through chromedriver with a fresh profile; only loopback traffic."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    if trusted_spki:
        # Trusts exactly the test certificate instead of ignoring every certificate error.
        options.add_argument(f"--ignore-certificate-errors-spki-list={trusted_spki}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(30)
    return driver


def new_profile_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="pyws-chromium-"))


# Installed into a loaded page by `install_page_helpers`; each function returns a Promise of
# plain JSON so that execute_async_script can hand the result back to Python.
PAGE_HELPERS_JS = r"""
window.wsTest = (() => {
  const encoder = new TextEncoder();

  function url(path) {
    if (/^wss?:/.test(path)) return path;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}${path}`;
  }

  function open(path, protocols) {
    return new Promise((resolve, reject) => {
      const ws = protocols === undefined ? new WebSocket(url(path))
                                         : new WebSocket(url(path), protocols);
      ws.binaryType = 'arraybuffer';
      ws.received = [];
      ws.waiters = [];
      ws.onmessage = (event) => {
        const waiter = ws.waiters.shift();
        if (waiter) waiter(event.data); else ws.received.push(event.data);
      };
      ws.closed = new Promise((done) => {
        ws.onclose = (event) => done(
          {code: event.code, reason: event.reason, wasClean: event.wasClean});
      });
      ws.onopen = () => resolve(ws);
      ws.closed.then((info) => reject(new Error(`closed before open: ${JSON.stringify(info)}`)));
    });
  }

  function next(ws, timeoutMs = 30000) {
    if (ws.received.length) return Promise.resolve(ws.received.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message within timeout')), timeoutMs);
      ws.waiters.push((data) => { clearTimeout(timer); resolve(data); });
      ws.closed.then((info) => reject(new Error(`closed while waiting: ${JSON.stringify(info)}`)));
    });
  }

  // Deterministic text of exactly `size` UTF-8 bytes with 2- and 3-byte characters in it.
  function textOfBytes(size, seed) {
    const head = size >= 5 ? '\u00e9\u20ac' : '';
    let body = '';
    let state = seed >>> 0;
    for (let i = encoder.encode(head).length; i < size; i += 1) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      body += String.fromCharCode(33 + (state >>> 16) % 94);
    }
    const text = head + body;
    if (encoder.encode(text).length !== size) throw new Error('text size mismatch');
    return text;
  }

  function bytesOf(size) {
    const bytes = new Uint8Array(size);
    for (let offset = 0; offset < size; offset += 65536) {
      crypto.getRandomValues(bytes.subarray(offset, Math.min(size, offset + 65536)));
    }
    return bytes;
  }

  function firstDifference(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i += 1) if (a[i] !== b[i]) return i;
    return a.length === b.length ? -1 : n;
  }

  async function asBytes(data) {
    if (data instanceof Blob) return new Uint8Array(await data.arrayBuffer());
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    throw new Error(`expected binary, got ${typeof data}`);
  }

  function typeName(data) {
    if (typeof data === 'string') return 'string';
    if (data instanceof Blob) return 'Blob';
    if (data instanceof ArrayBuffer) return 'ArrayBuffer';
    return typeof data;
  }

  // Sends one message of `kind` ('text' | 'arraybuffer' | 'blob') and checks the echo.
  async function echoOnce(ws, kind, size, seed) {
    if (kind === 'text') {
      const text = textOfBytes(size, seed);
      ws.send(text);
      const reply = await next(ws);
      return {type: typeName(reply),
              sentBytes: size,
              receivedBytes: typeof reply === 'string' ? encoder.encode(reply).length : -1,
              firstDifference: typeof reply === 'string' ? firstDifference(text, reply) : 0};
    }
    const bytes = bytesOf(size);
    ws.binaryType = kind;
    ws.send(kind === 'blob' ? new Blob([bytes]) : bytes.buffer);
    const reply = await next(ws);
    const type = typeName(reply);
    const got = type === 'string' ? new Uint8Array(0) : await asBytes(reply);
    return {type, sentBytes: size, receivedBytes: got.length,
            firstDifference: firstDifference(bytes, got)};
  }

  async function echo(path, kind, sizes) {
    const ws = await open(path);
    const results = [];
    for (const [index, size] of sizes.entries()) {
      results.push(await echoOnce(ws, kind, size, index + 1));
    }
    ws.close(1000, 'done');
    const close = await ws.closed;
    return {results, extensions: ws.extensions, protocol: ws.protocol, close};
  }

  return {url, open, next, textOfBytes, bytesOf, echoOnce, echo, typeName};
})();
"""


def install_page_helpers(driver) -> None:
    driver.execute_script(PAGE_HELPERS_JS)


def run_async(driver, body: str, *args):
    """Runs `body` (an async function body using `args`) in the page and returns its result.

    A rejected promise comes back as {"error": message} so the test can show it.
    """
    script = (
        "const done = arguments[arguments.length - 1];"
        "const args = Array.from(arguments).slice(0, -1);"
        f"(async () => {{ {body} }})().then(done, (e) => done({{error: String(e)}}));"
    )
    result = driver.execute_async_script(script, *args)
    if isinstance(result, dict) and set(result) == {"error"}:
        raise AssertionError(f"page script failed: {result['error']}")
    return result
