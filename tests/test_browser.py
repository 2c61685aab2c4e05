"""The example page and the browser's WebSocket API against the real server, in headless Chromium.

Run alone with `pytest tests/test_browser.py`. Skipped only when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
from pathlib import Path

import pytest
from browser_support import (
    CHROMIUM,
    SERVER_PYTHON,
    install_page_helpers,
    make_test_certificate,
    new_profile_dir,
    run_async,
    start_chromium,
)
from conftest import EXAMPLES_DIR, start_server

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium.webdriver.common.by import By  # noqa: E402  (only needed when Chromium exists)
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

SIZES = [0, 125, 126, 65535, 65536, 1 << 20]
WAIT_SECONDS = 20


# ---- fixtures -------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return make_test_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = start_server(
        EXAMPLES_DIR, log_dir=tmp_path_factory.mktemp("server"), python=SERVER_PYTHON
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, tls_files):
    cert, key, _ = tls_files
    process = start_server(
        EXAMPLES_DIR,
        "-t", "-k", str(key), "-c", str(cert),
        log_dir=tmp_path_factory.mktemp("tls-server"),
        python=SERVER_PYTHON,
    )  # fmt: skip
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser(tls_files):
    profile = new_profile_dir()
    driver = start_chromium(profile, trusted_spki=tls_files[2])
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser, server):
    """The console page loaded over http, with the wsTest helpers installed."""
    browser.get_log("browser")  # drop console messages left by earlier tests
    browser.get(f"http://127.0.0.1:{server.port}/index.html")
    install_page_helpers(browser)
    yield browser
    # Leave one tab behind for the next test, and print the server log if this test failed.
    for handle in browser.window_handles[1:]:
        browser.switch_to.window(handle)
        browser.close()
    browser.switch_to.window(browser.window_handles[0])
    print(server.log()[-4000:])


# ---- UI helpers -------------------------------------------------------------


def wait_for(driver, condition, message):
    return WebDriverWait(driver, WAIT_SECONDS).until(condition, message)


def text_of(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def ui_connect(driver, path, protocols="", wait_open=True):
    handler = Select(driver.find_element(By.ID, "handler-select"))
    if path in [option.get_attribute("value") for option in handler.options]:
        handler.select_by_value(path)
    else:
        field = driver.find_element(By.ID, "path-input")
        field.clear()
        field.send_keys(path)
    if protocols:
        driver.find_element(By.ID, "protocols-input").send_keys(protocols)
    driver.find_element(By.ID, "connect-button").click()
    if not wait_open:
        return
    wait_for(
        driver,
        lambda d: d.find_element(By.ID, "state-ready").get_attribute("data-state") == "1",
        f"page never reached OPEN for {path}",
    )


def ui_choose_kind(driver, kind):
    driver.find_element(By.CSS_SELECTOR, f'input[name="kind"][value="{kind}"]').click()


def ui_send_text(driver, text):
    ui_choose_kind(driver, "text")
    box = driver.find_element(By.ID, "message-input")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "send-button").click()


def log_entries(driver, direction):
    return driver.find_elements(By.CSS_SELECTOR, f'#log li[data-direction="{direction}"]')


def wait_for_entries(driver, direction, count):
    wait_for(
        driver,
        lambda d: len(log_entries(d, direction)) >= count,
        f"expected {count} '{direction}' log entries",
    )
    return log_entries(driver, direction)


def ui_close(driver, code, reason):
    field = driver.find_element(By.ID, "close-code")
    field.clear()
    field.send_keys(str(code))
    reason_field = driver.find_element(By.ID, "close-reason")
    reason_field.clear()
    reason_field.send_keys(reason)
    driver.find_element(By.ID, "close-button").click()


def wait_for_close_event(driver):
    wait_for(driver, lambda d: text_of(d, "close-event-code") != "–", "no close event shown")
    return (
        text_of(driver, "close-event-code"),
        text_of(driver, "close-event-reason"),
        text_of(driver, "close-event-clean"),
    )


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


# ---- the page UI ------------------------------------------------------------------


def test_ui_echo_flow_and_screenshot(page, tmp_path):
    ui_connect(page, "/echo")
    assert "permessage-deflate" in text_of(page, "state-extensions")
    ui_send_text(page, "Hello from the console page")
    incoming = wait_for_entries(page, "in", 1)
    assert incoming[0].get_attribute("data-kind") == "text"
    assert incoming[0].get_attribute("data-size") == "27"
    assert "Hello from the console page" in incoming[0].text

    # bufferedAmount grows synchronously in send(), so the live panel must show it once.
    page.execute_script(
        """
        const cell = document.getElementById('state-buffered');
        window.maxShownBuffered = 0;
        new MutationObserver(() => {
          window.maxShownBuffered = Math.max(window.maxShownBuffered, Number(cell.textContent));
        }).observe(cell, {childList: true, characterData: true, subtree: true});
        """
    )
    ui_choose_kind(page, "random")
    count = page.find_element(By.ID, "random-count")
    count.clear()
    count.send_keys("4096")
    page.find_element(By.ID, "send-button").click()
    incoming = wait_for_entries(page, "in", 2)
    assert incoming[1].get_attribute("data-kind") == "binary ArrayBuffer"
    assert incoming[1].get_attribute("data-size") == "4096"
    assert page.execute_script("return window.maxShownBuffered;") >= 4096
    wait_for(page, lambda d: text_of(d, "state-buffered") == "0", "bufferedAmount never drained")

    ui_choose_kind(page, "hex")
    Select(page.find_element(By.ID, "binary-container")).select_by_value("blob")
    Select(page.find_element(By.ID, "binary-type")).select_by_value("blob")
    box = page.find_element(By.ID, "message-input")
    box.clear()
    box.send_keys("de ad be ef 00 ff")
    page.find_element(By.ID, "send-button").click()
    incoming = wait_for_entries(page, "in", 3)
    assert incoming[2].get_attribute("data-kind") == "binary Blob"
    assert incoming[2].get_attribute("data-size") == "6"
    wait_for(page, lambda d: "de ad be ef 00 ff" in incoming[2].text, "blob preview")

    outgoing = log_entries(page, "out")
    assert [e.get_attribute("data-size") for e in outgoing] == ["27", "4096", "6"]
    assert text_of(page, "totals") == "sent 3 (4.0 KiB) · received 3 (4.0 KiB)"
    shot = tmp_path / "screenshot.png"
    assert page.save_screenshot(str(shot))
    assert shot.stat().st_size > 10000
    if os.environ.get("PYWS_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["PYWS_SCREENSHOT"])

    # The echo handler has no passive hook, so the server answers any close with 1000.
    ui_close(page, 4000, "done")
    assert wait_for_close_event(page) == ("1000", "(empty)", "true")
    assert text_of(page, "state-ready") == "3 CLOSED"


def test_ui_bad_hex_is_reported_not_sent(page):
    ui_connect(page, "/echo")
    ui_choose_kind(page, "hex")
    box = page.find_element(By.ID, "message-input")
    box.clear()
    box.send_keys("abc")
    page.find_element(By.ID, "send-button").click()
    assert "even number" in text_of(page, "send-error")
    assert log_entries(page, "out") == []


def test_ui_client_close_with_code_and_reason(page):
    ui_connect(page, "/close")
    ui_close(page, 4003, "closed from the UI")
    assert wait_for_close_event(page) == ("4003", "closed from the UI", "true")


def test_ui_server_close_and_abort(page):
    ui_connect(page, "/close")
    ui_send_text(page, "4004 the server closes")
    assert wait_for_close_event(page) == ("4004", "the server closes", "true")
    # The abort handler drops the connection right after the 101, so OPEN may be too brief to see.
    ui_connect(page, "/abort", wait_open=False)
    wait_for(page, lambda d: text_of(d, "close-event-code") == "1006", "abort not seen as 1006")
    assert text_of(page, "close-event-clean") == "false"


def test_ui_subprotocol(page):
    ui_connect(page, "/subprotocol", "second.example, first.example")
    assert text_of(page, "state-protocol") == "second.example"
    ui_send_text(page, "hi")
    reply = wait_for_entries(page, "in", 1)[0]
    assert reply.find_element(By.CSS_SELECTOR, ".preview").text == "second.example: hi"


def test_ui_handler_without_extensions(page):
    ui_connect(page, "/echo_noext")
    assert text_of(page, "state-extensions") == "–"


def test_ui_chat_between_two_tabs(page, server):
    url = f"http://127.0.0.1:{server.port}/index.html"
    first = page.current_window_handle
    ui_connect(page, "/chat")
    page.switch_to.new_window("tab")
    second = page.current_window_handle
    page.get(url)
    ui_connect(page, "/chat")

    ui_send_text(page, "hello from tab two")
    page.switch_to.window(first)
    ui_send_text(page, "hello from tab one")
    for handle in (first, second):
        page.switch_to.window(handle)
        entries = wait_for_entries(page, "in", 2)
        texts = sorted(entry.find_element(By.CSS_SELECTOR, ".preview").text for entry in entries)
        assert texts == ["hello from tab one", "hello from tab two"]


# ---- TLS -------------------------------------------------------------------------


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
