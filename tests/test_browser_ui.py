"""The console page's own controls, driven like a user would, in headless Chromium.

Run alone with `pytest tests/test_browser_ui.py`. Skipped only when /usr/bin/chromium is missing.
PYWS_SCREENSHOT=path also copies the page screenshot there (docs/screenshot.png comes from it);
PYWS_BROWSER_PYTHON=python runs the server with another interpreter (e.g. one with the original
pywebsocket3 installed, to check a test against the reference behaviour).
"""

from __future__ import annotations

import os
import shutil

# First: it skips this module when Chromium is missing (browser_support needs selenium).
import browser_fixtures
from browser_support import (
    log_entries,
    text_of,
    ui_choose_kind,
    ui_close,
    ui_connect,
    ui_send_text,
    wait_for,
    wait_for_close_event,
    wait_for_entries,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

# The fixtures, shared with the other browser test module (each module gets its own instances).
tls_files = browser_fixtures.tls_files
server = browser_fixtures.server
tls_server = browser_fixtures.tls_server
browser = browser_fixtures.browser
page = browser_fixtures.page


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


def test_ui_full_url_typed_into_the_path_field(page, server):
    url = f"ws://127.0.0.1:{server.port}/echo_noext"
    ui_connect(page, url)
    assert text_of(page, "url-preview") == url
    assert Select(page.find_element(By.ID, "handler-select")).first_selected_option.text == (
        "other path…"
    )
    assert text_of(page, "state-extensions") == "–"
    ui_send_text(page, "no compression")
    reply = wait_for_entries(page, "in", 1)[0]
    assert reply.find_element(By.CSS_SELECTOR, ".preview").text == "no compression"


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
