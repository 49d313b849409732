"""pytest wiring for the end-to-end suite: which WSGI module is under test,
and fixtures that start real Apache instances and always stop them.

WSGIRT_E2E_MODULES  comma list from ``wsgirt``, ``modwsgi`` (default: both)
WSGIRT_MODULE_PATH  path of our module (default <repo>/target/release/mod_wsgirt.so)
WSGIRT_E2E_KEEP     if set, temp ServerRoots are kept for inspection
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from apache import REPO, Apache  # noqa: E402

KNOWN = ("wsgirt", "modwsgi")


@dataclass(frozen=True)
class Module:
    name: str
    path: str


def module_path(name: str) -> str:
    if name == "wsgirt":
        return os.environ.get("WSGIRT_MODULE_PATH") or os.path.join(
            REPO, "target", "release", "mod_wsgirt.so")
    return "/usr/lib/apache2/modules/mod_wsgi.so"


def selected_modules() -> list[str]:
    raw = os.environ.get("WSGIRT_E2E_MODULES", "wsgirt,modwsgi")
    names = [n.strip() for n in raw.split(",") if n.strip()]
    bad = [n for n in names if n not in KNOWN]
    if bad or not names:
        raise pytest.UsageError(
            f"WSGIRT_E2E_MODULES={raw!r}: names must come from {KNOWN}")
    return names


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "beyond_modwsgi: checks something wsgirt does beyond mod_wsgi; "
        "generated for the wsgirt module only")
    config.addinivalue_line(
        "markers", "log_errors_expected: the test provokes errors in the "
        "error log (turns off the clean-log check of test_pep3333.py)")
    selected_modules()  # validate early


def pytest_report_header(config):
    return "wsgi modules under test: " + ", ".join(
        f"{n}={module_path(n)}" for n in selected_modules())


def pytest_generate_tests(metafunc):
    if "module" not in metafunc.fixturenames:
        return
    names = selected_modules()
    if metafunc.definition.get_closest_marker("beyond_modwsgi"):
        names = [n for n in names if n == "wsgirt"]
    # An empty list would make pytest report a skip; beyond_modwsgi tests are
    # instead not generated at all (see pytest_collection_modifyitems).
    metafunc.parametrize("module", names or ["<none>"], indirect=True, ids=names or ["<none>"])


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        cs = getattr(item, "callspec", None)
        if cs is not None and cs.params.get("module") == "<none>":
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def module(request) -> Module:
    """The WSGI module under test (parametrized: ids ``wsgirt`` / ``modwsgi``).

    A requested ``wsgirt`` whose .so does not exist is an ERROR, never a skip."""
    name = request.param
    path = module_path(name)
    if not os.path.isfile(path):
        pytest.fail(
            f"WSGI module {name!r} was requested (WSGIRT_E2E_MODULES) but "
            f"{path} does not exist. Build it (cargo build --release) or set "
            f"WSGIRT_MODULE_PATH, or choose WSGIRT_E2E_MODULES=modwsgi.",
            pytrace=False)
    return Module(name, path)


def start_apache(request, module: Module, snippet: str, **kw) -> Apache:
    """Start an Apache for ``module`` and stop it (by PID) when the requesting
    fixture/test finishes, even on failure.  A stop that leaves processes
    behind fails the teardown."""
    a = Apache(module.path, snippet, **kw)

    def fin():
        try:
            a.stop()
        finally:
            a.cleanup()

    request.addfinalizer(fin)
    a.start()
    return a


@pytest.fixture
def configtest(module):
    """``configtest(snippet, **kw)`` -> (rc, output) of ``apache2 -t``."""
    made = []

    def run(snippet, **kw):
        a = Apache(module.path, snippet, **kw)
        made.append(a)
        return a.configtest()

    yield run
    for a in made:
        a.cleanup()
