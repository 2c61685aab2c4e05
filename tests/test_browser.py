"""The example page and the browser's WebSocket API against the real server, in headless Chromium.

Run alone with `pytest tests/test_browser.py`. Skipped only when /usr/bin/chromium is missing.
PYWS_SCREENSHOT=path also copies the page screenshot there (docs/screenshot.png comes from it);
PYWS_BROWSER_PYTHON=python runs the server with another interpreter (e.g. one with the original
pywebsocket3 installed, to check a test against the reference behaviour).
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

# First: it skips this module when Chromium is missing (browser_support needs selenium).
import browser_fixtures
import pytest
from browser_support import (
    install_page_helpers,
    run_async,
    text_of,
    ui_connect,
    ui_send_text,
    wait_for_entries,
)
from conftest import EXAMPLES_DIR
from selenium.webdriver.common.by import By

# The fixtures, shared with the other browser test module (each module gets its own instances).
tls_files = browser_fixtures.tls_files
server = browser_fixtures.server
tls_server = browser_fixtures.tls_server
browser = browser_fixtures.browser
page = browser_fixtures.page

SIZES = [0, 125, 126, 65535, 65536, 1 << 20]


# ---- the page itself ----------------------------------------------------------


def test_page_is_self_contained_and_styled(page, server):
    resources = page.execute_script(
        "return performance.getEntriesByType('resource').map((r) => r.name);"
    )
    origin = f"http://127.0.0.1:{server.port}/"
    assert sorted(resources) == [origin + "console.css", origin + "console.js"]
    assert page.execute_script("return typeof window.wsConsole;") == "object"
    # A stylesheet served with a wrong Content-Type is refused by the browser.
    assert page.execute_script("return document.styleSheets[0].cssRules.length;") > 10
    assert text_of(page, "url-preview") == f"ws://127.0.0.1:{server.port}/echo"
    severe = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []


def test_root_serves_the_console_page(browser, server):
    # The README tells users to open http://host:port/ (a directory serves its index.html).
    browser.get(f"http://127.0.0.1:{server.port}/")
    assert browser.title == "pywebsocket-rs console"
    assert browser.execute_script("return typeof window.wsConsole;") == "object"


def test_page_opened_as_a_file_targets_the_readme_server(browser):
    browser.get((EXAMPLES_DIR / "index.html").as_uri())
    assert text_of(browser, "url-preview") == "ws://localhost:8880/echo"


def test_static_files_have_browser_content_types(server):
    for name, expected in [
        ("index.html", "text/html"),
        ("console.js", "javascript"),
        ("console.css", "text/css"),
    ]:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/{name}") as response:
            assert response.status == 200
            assert expected in response.headers["Content-Type"]
            assert (
                response.read() == (Path(__file__).parent.parent / "examples" / name).read_bytes()
            )


# ---- precise checks through the page script -----------------------------------------


def assert_echoes(outcome, expected_type):
    for size, result in zip(SIZES, outcome["results"]):
        assert result == {
            "type": expected_type,
            "sentBytes": size,
            "receivedBytes": size,
            "firstDifference": -1,
        }, f"echo of {size} bytes"
    assert outcome["close"]["wasClean"] is True


def test_text_echo_all_sizes(page):
    outcome = run_async(page, "return await wsTest.echo('/echo', 'text', args[0]);", SIZES)
    assert_echoes(outcome, "string")


@pytest.mark.parametrize("container", ["arraybuffer", "blob"])
def test_binary_echo_all_sizes(page, container):
    outcome = run_async(
        page, "return await wsTest.echo('/echo', args[0], args[1]);", container, SIZES
    )
    assert_echoes(outcome, "ArrayBuffer" if container == "arraybuffer" else "Blob")


@pytest.mark.parametrize("kind", ["text", "arraybuffer", "blob"])
def test_echo_frame_length_boundaries_without_deflate(page, kind):
    # Uncompressed, 125/126/65535/65536 are exactly the 7-bit, 16-bit and 64-bit length edges.
    outcome = run_async(
        page, "return await wsTest.echo('/echo_noext', args[0], args[1]);", kind, SIZES
    )
    assert outcome["extensions"] == ""
    assert_echoes(outcome, {"text": "string", "arraybuffer": "ArrayBuffer", "blob": "Blob"}[kind])


def test_pipelined_messages_keep_their_order(page):
    # 600 messages of mixed types and sizes in flight at once, through permessage-deflate.
    outcome = run_async(
        page,
        """
        const ws = await wsTest.open('/echo');
        const sent = [];
        for (let i = 0; i < 600; i += 1) {
          const size = (i * 7919) % 5000;
          if (i % 3 === 0) {
            const bytes = wsTest.bytesOf(size);
            sent.push(bytes);
            ws.send(bytes.buffer);
          } else {
            const text = `${i}:` + wsTest.textOfBytes(size, i);
            sent.push(text);
            ws.send(text);
          }
        }
        const bad = [];
        for (let i = 0; i < sent.length; i += 1) {
          const reply = await wsTest.next(ws);
          const want = sent[i];
          const same = typeof want === 'string'
            ? reply === want
            : reply instanceof ArrayBuffer && reply.byteLength === want.length &&
              new Uint8Array(reply).every((b, k) => b === want[k]);
          if (!same) bad.push(i);
        }
        ws.close();
        return {bad, close: await ws.closed};
        """,
    )
    assert outcome["bad"] == []
    assert outcome["close"]["wasClean"] is True


def test_hundred_sockets_at_once(page):
    outcome = run_async(
        page,
        """
        const sockets = await Promise.all(Array.from({length: 100}, () => wsTest.open('/echo')));
        sockets.forEach((ws, i) => ws.send(`socket ${i}`));
        const replies = await Promise.all(sockets.map((ws) => wsTest.next(ws)));
        sockets.forEach((ws) => ws.close());
        const closes = await Promise.all(sockets.map((ws) => ws.closed));
        return {wrong: replies.filter((r, i) => r !== `socket ${i}`).length,
                unclean: closes.filter((c) => !c.wasClean).length};
        """,
    )
    assert outcome == {"wrong": 0, "unclean": 0}


def test_client_close_while_the_server_is_still_echoing(page):
    # The server is busy writing 1 MiB echoes when the Close arrives; the handshake still ends
    # cleanly, with the echo handler's default reply (1000, no reason).
    outcome = run_async(
        page,
        """
        const ws = await wsTest.open('/echo');
        const big = wsTest.bytesOf(1 << 20);
        for (let i = 0; i < 20; i += 1) ws.send(big.buffer);
        await wsTest.next(ws);
        ws.close(4000, 'enough');
        return await ws.closed;
        """,
    )
    assert outcome == {"code": 1000, "reason": "", "wasClean": True}


def test_subprotocol_selection(page):
    outcome = run_async(
        page,
        """
        const offered = await wsTest.open('/subprotocol', ['chat.v2', 'chat.v1']);
        offered.send('hello');
        const echoed = await wsTest.next(offered);
        offered.close();
        const plain = await wsTest.open('/subprotocol');
        plain.close();
        return {selected: offered.protocol, echoed, none: plain.protocol,
                closes: [await offered.closed, await plain.closed]};
        """,
    )
    assert outcome["selected"] == "chat.v2"
    assert outcome["none"] == ""
    assert outcome["echoed"] == "chat.v2: hello"
    assert [c["wasClean"] for c in outcome["closes"]] == [True, True]


def test_permessage_deflate_negotiated_and_intact(page):
    outcome = run_async(
        page,
        """
        const ws = await wsTest.open('/echo');
        const checks = [];
        // Repetitive text compresses well and keeps the context-takeover window busy.
        const line = 'permessage-deflate \u00fcber alles 0123456789\\n';
        for (const repeat of [1, 10, 1000, 30000]) {
          const text = line.repeat(repeat);
          ws.send(text);
          const reply = await wsTest.next(ws);
          checks.push(reply === text);
        }
        for (const size of [1, 1000, 70000]) {
          checks.push((await wsTest.echoOnce(ws, 'arraybuffer', size, 0)).firstDifference === -1);
        }
        ws.close(1000);
        return {extensions: ws.extensions, checks, close: await ws.closed};
        """,
    )
    assert "permessage-deflate" in outcome["extensions"]
    assert outcome["checks"] == [True] * 7
    assert outcome["close"]["wasClean"] is True


def test_client_close_code_and_reason_echoed_by_passive_hook(page):
    outcome = run_async(
        page,
        """
        const ws = await wsTest.open('/close');
        ws.close(4001, 'bye from the browser \u00e9');
        return await ws.closed;
        """,
    )
    assert outcome == {"code": 4001, "reason": "bye from the browser \u00e9", "wasClean": True}


def test_client_close_with_the_longest_reason(page):
    # 123 bytes of reason (with 2-byte characters) make a 125-byte close payload each way.
    reason = "\u00e9" * 60 + "abc"
    outcome = run_async(
        page,
        """
        const ws = await wsTest.open('/close');
        ws.close(4123, args[0]);
        return await ws.closed;
        """,
        reason,
    )
    assert len(reason.encode()) == 123
    assert outcome == {"code": 4123, "reason": reason, "wasClean": True}


def test_server_close_with_a_non_ascii_reason(page):
    outcome = run_async(
        page,
        """
        const ws = await wsTest.open('/close');
        ws.send('3000 fin \u2014 \u00fcber');
        return await ws.closed;
        """,
    )
    assert outcome == {"code": 3000, "reason": "fin \u2014 \u00fcber", "wasClean": True}


def test_client_close_without_code_is_answered_with_an_empty_close(page):
    outcome = run_async(
        page,
        """
        const ws = await wsTest.open('/close');
        ws.close();
        return await ws.closed;
        """,
    )
    assert outcome == {"code": 1005, "reason": "", "wasClean": True}


def test_echo_goodbye_makes_the_server_close(page):
    outcome = run_async(
        page,
        """
        const ws = await wsTest.open('/echo');
        ws.send('Goodbye');
        return {reply: await wsTest.next(ws), close: await ws.closed};
        """,
    )
    assert outcome == {"reply": "Goodbye", "close": {"code": 1000, "reason": "", "wasClean": True}}


def test_server_initiated_close(page):
    outcome = run_async(
        page,
        """
        const ws = await wsTest.open('/close');
        ws.send('4002 server says bye');
        return await ws.closed;
        """,
    )
    assert outcome == {"code": 4002, "reason": "server says bye", "wasClean": True}


def test_server_close_1000_with_empty_reason(page):
    outcome = run_async(
        page,
        """
        const ws = await wsTest.open('/close');
        ws.send('1000 ');
        return await ws.closed;
        """,
    )
    assert outcome == {"code": 1000, "reason": "", "wasClean": True}


def test_abort_without_close_frame_is_1006(page):
    outcome = run_async(
        page,
        """
        const ws = await wsTest.open('/abort');
        // In case the handler waits for a message before it drops the connection.
        ws.send('abort');
        return await ws.closed;
        """,
    )
    assert outcome["code"] == 1006
    assert outcome["wasClean"] is False


def test_clock_pushes_every_second(page):
    outcome = run_async(
        page,
        """
        const ws = await wsTest.open('/clock');
        const first = await wsTest.next(ws, 5000);
        const t1 = performance.now();
        const second = await wsTest.next(ws, 5000);
        const gap = performance.now() - t1;
        const skew = Math.abs(Date.parse(second) - Date.now());
        ws.close();
        return {times: [first, second], gap, skew, close: await ws.closed};
        """,
    )
    for stamp in outcome["times"]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", stamp), stamp
    assert outcome["skew"] < 5000
    assert 500 <= outcome["gap"] <= 2500
    assert outcome["close"]["wasClean"] is True


def test_wss_page_and_echo(browser, tls_server):
    browser.get(f"https://127.0.0.1:{tls_server.port}/index.html")
    assert text_of(browser, "url-preview") == f"wss://127.0.0.1:{tls_server.port}/echo"
    install_page_helpers(browser)
    outcome = run_async(
        browser,
        "const r = await wsTest.echo('/echo', 'arraybuffer', args[0]);"
        "r.url = wsTest.url('/echo'); return r;",
        SIZES,
    )
    assert outcome["url"].startswith("wss://")
    assert_echoes(outcome, "ArrayBuffer")
    ui_connect(browser, "/echo")
    ui_send_text(browser, "over TLS")
    entries = wait_for_entries(browser, "in", 1)
    assert entries[0].find_element(By.CSS_SELECTOR, ".preview").text == "over TLS"
