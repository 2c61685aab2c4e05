"""The original's own test suites, run unchanged against this package.

The pywebsocket3 4.0.2 sdist is downloaded at test time (cached in tests/.cache/, nothing of
it is committed) and extracted; its ``pywebsocket3/`` directory is replaced by a symlink to
the INSTALLED package, so its ``example/`` handlers and ``test/`` suites run against us.
Every failing case must be listed in tests/upstream/expectations.txt with its reason, and
every listed case must fail: anything else fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import CACHE_DIR, TESTS_DIR

UPSTREAM_VERSION = "4.0.2"
SDIST_NAME = f"pywebsocket3-{UPSTREAM_VERSION}"
EXPECTATIONS = TESTS_DIR / "upstream" / "expectations.txt"
RUNNER = TESTS_DIR / "upstream" / "run_suite.py"
UNIT_MODULES = [
    "test_msgutil",
    "test_handshake",
    "test_handshake_hybi",
    "test_dispatch",
    "test_extensions",
    "test_stream",
    "test_util",
    "test_http_header_util",
    "test_memorizingfile",
    "test_mock",
]


def sdist_path() -> Path:
    archive = CACHE_DIR / f"{SDIST_NAME}.tar.gz"
    if not archive.exists():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps"]
            + [f"pywebsocket3=={UPSTREAM_VERSION}", "-d", str(CACHE_DIR), "-q"],
            check=True,
            timeout=300,
        )
    return archive


@pytest.fixture(scope="module")
def upstream_tree(tmp_path_factory) -> Path:
    import pywebsocket3

    base = tmp_path_factory.mktemp("upstream")
    with tarfile.open(sdist_path()) as archive:
        archive.extractall(base, filter="data")
    root = base / SDIST_NAME
    shutil.rmtree(root / "pywebsocket3")
    os.symlink(os.path.dirname(pywebsocket3.__file__), root / "pywebsocket3")
    # The CGI test needs its script executable (the sdist keeps the mode; make sure).
    (root / "example" / "cgi-bin" / "hi.py").chmod(0o755)
    return root


def load_expectations() -> dict[str, str]:
    expected = {}
    for raw in EXPECTATIONS.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        condition = re.match(r"\[py([<>]=?)(\d+)\.(\d+)\]\s*", line)
        if condition:
            line = line[condition.end() :]
            op, major, minor = condition.group(1), int(condition.group(2)), int(condition.group(3))
            version = sys.version_info[:2]
            holds = {
                ">=": version >= (major, minor),
                "<": version < (major, minor),
                ">": version > (major, minor),
                "<=": version <= (major, minor),
            }[op]
            if not holds:
                continue
        test_id, _, reason = line.partition(" ")
        assert reason.strip(), f"expectation without a reason: {raw!r}"
        expected[test_id] = reason.strip()
    return expected


def run_modules(root: Path, modules: list[str], out: Path, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "test"), str(root)]))
    completed = subprocess.run(
        [sys.executable, str(RUNNER), str(out)] + modules,
        cwd=root / "test",
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if not out.exists():
        pytest.fail(
            f"upstream runner crashed ({completed.returncode}):\n{completed.stderr[-5000:]}"
        )
    return json.loads(out.read_text())


def check(results: dict, modules: list[str]) -> None:
    outcomes: dict[str, str] = results["outcomes"]
    assert not results["load_errors"], results["load_errors"]
    expected = {
        test_id: reason
        for test_id, reason in load_expectations().items()
        if test_id.split(".")[0] in modules
    }
    failed = {t for t, o in outcomes.items() if o in ("fail", "error")}
    passed = {t for t, o in outcomes.items() if o == "ok"}
    skipped = {t for t, o in outcomes.items() if o == "skipped"}
    unexpected_failures = sorted(failed - set(expected))
    unexpected_passes = sorted(set(expected) & passed)
    missing = sorted(set(expected) - set(outcomes))
    print(
        f"\nupstream {'+'.join(modules)}: {len(outcomes)} cases, {len(passed)} passed, "
        f"{len(failed)} failed ({len(failed & set(expected))} expected), {len(skipped)} skipped"
    )
    for module in modules:
        mine = [o for t, o in outcomes.items() if t.split(".")[0] == module]
        print(f"  {module}: {mine.count('ok')}/{len(mine)} passed")
    report = []
    for test_id in unexpected_failures:
        report.append(f"UNEXPECTED FAILURE {test_id}\n{results['details'].get(test_id, '')}")
    for test_id in unexpected_passes:
        report.append(f"UNEXPECTED PASS {test_id} (expected to fail: {expected[test_id]})")
    for test_id in missing:
        report.append(f"LISTED BUT NOT RUN {test_id}")
    assert not report, "\n".join(report)
    assert outcomes, "no upstream test ran"


@pytest.mark.timeout(660)
def test_upstream_endtoend(upstream_tree, tmp_path):
    results = run_modules(upstream_tree, ["test_endtoend"], tmp_path / "e2e.json", timeout=600)
    check(results, ["test_endtoend"])
    assert len(results["outcomes"]) == 28


@pytest.mark.timeout(360)
@pytest.mark.parametrize("module", UNIT_MODULES)
def test_upstream_unit_suite(upstream_tree, tmp_path, module):
    results = run_modules(upstream_tree, [module], tmp_path / f"{module}.json", timeout=300)
    check(results, [module])


@pytest.mark.timeout(660)
def test_upstream_unit_suites_pass_rate(upstream_tree, tmp_path):
    """Issue 3: at least 90% of the original's unit cases pass against this package."""
    results = run_modules(upstream_tree, UNIT_MODULES, tmp_path / "all.json", timeout=600)
    outcomes = list(results["outcomes"].values())
    rate = outcomes.count("ok") / len(outcomes)
    print(f"\nupstream unit suites: {outcomes.count('ok')}/{len(outcomes)} passed ({rate:.1%})")
    assert len(outcomes) >= 120
    assert rate >= 0.90
