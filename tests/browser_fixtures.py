"""Fixtures of the browser tests: the examples server (plain and TLS) and one headless Chromium
per test module. Importing it skips the importing test module when Chromium is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

# Imported only when Chromium exists: browser_support needs selenium.
from browser_support import (  # noqa: E402
    SERVER_PYTHON,
    install_page_helpers,
    make_test_certificate,
    new_profile_dir,
    start_chromium,
)
from conftest import EXAMPLES_DIR, start_server  # noqa: E402


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
