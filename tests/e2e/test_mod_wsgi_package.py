"""A `mod_wsgi` package on sys.path (pip's mod_wsgi, whose `mod_wsgi.server`
the files mod_wsgi-express generates import) is what `import mod_wsgi`
gives, with the embedded attributes added to it, as mod_wsgi 4.9.4 does:
its submodules import, and the main interpreter logs "Imported
'mod_wsgi'."."""

import json
import re

from conftest import start_apache

import pytest

APP = """
import json
import mod_wsgi
import mod_wsgi.server


def application(environ, start_response):
    body = json.dumps({
        "marker": mod_wsgi.server.MARKER,
        "package_init_ran": getattr(mod_wsgi, "PACKAGE_INIT", None),
        "process_group": mod_wsgi.process_group,
        "application_group": mod_wsgi.application_group,
        "version": list(mod_wsgi.version),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"""

SNIPPET = """
WSGIPythonPath @ROOT@/pylib
WSGIScriptAlias /global @ROOT@/app/app.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /sub @ROOT@/app/app.wsgi
<Directory @ROOT@/app>
    Require all granted
</Directory>
"""


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET, name="mod-wsgi-package", files={
        "app/app.wsgi": APP,
        # What pip installs: a namespace-style __init__ and a subpackage.
        "pylib/mod_wsgi/__init__.py":
            "import pkgutil\n__path__ = pkgutil.extend_path(__path__, __name__)\n"
            "PACKAGE_INIT = True\n",
        "pylib/mod_wsgi/server/__init__.py": "MARKER = 'from-the-package'\n",
    })


@pytest.mark.parametrize("path", ["/global", "/sub"])
def test_package_submodules_import_and_embedded_attributes_win(server, path):
    r = server.get(path)
    assert r.status == 200, (r.status, r.body[:300], server.error_log()[-3000:])
    d = json.loads(r.body)
    assert d["marker"] == "from-the-package"
    assert d["package_init_ran"] is True
    assert d["process_group"] == ""
    assert d["version"] == [4, 9, 4]
    assert d["application_group"] == ("" if path == "/global" else f"127.0.0.1:{server.port}|{path}")


def test_main_interpreter_logs_the_import(server):
    server.get("/global")
    server.wait_log(r"mod_wsgi \(pid=\d+\): Imported 'mod_wsgi'\.$")


SYS_MODULES_APP = """
import json
import sys


def application(environ, start_response):
    body = json.dumps({name: name in sys.modules for name in ("mod_wsgi", "apache")}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"""


@pytest.mark.parametrize("group", ["%{GLOBAL}", "sub"])
def test_mod_wsgi_and_apache_are_in_sys_modules_before_any_import(request, module, group):
    """Both modules are created with every interpreter, as mod_wsgi does:
    code that checks sys.modules to tell it runs under mod_wsgi finds
    them without importing them."""
    server = start_apache(request, module, f"""
WSGIScriptAlias /m @ROOT@/app/modules.wsgi application-group={group}
<Directory @ROOT@/app>
    Require all granted
</Directory>
""", name="sys-modules", files={"app/modules.wsgi": SYS_MODULES_APP})
    r = server.get("/m")
    assert r.status == 200, r.body[:300]
    assert json.loads(r.body) == {"mod_wsgi": True, "apache": True}
