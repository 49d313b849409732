"""Interpreter-wide settings: sys.prefix, flags, warnings, path, imports.

Answers JSON.  ?import=NAME imports NAME first (records its __file__ or the
ImportError).  ?bytecode=DIR imports module e2e_bc from DIR and reports
whether DIR/__pycache__ appeared."""
import json
import os
import sys
import warnings
from urllib.parse import parse_qs


def application(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    out = {
        "prefix": sys.prefix,
        "exec_prefix": sys.exec_prefix,
        "base_prefix": sys.base_prefix,
        "optimize": sys.flags.optimize,
        "debug_builtin": __debug__,
        "hash_randomization": sys.flags.hash_randomization,
        "hash_abc": hash("abc"),
        "dont_write_bytecode": sys.dont_write_bytecode,
        "warnoptions": list(sys.warnoptions),
        "warnings_filters": [repr(f) for f in warnings.filters[:5]],
        "path": sys.path,
        "version_info": list(sys.version_info[:3]),
        "argv": sys.argv,
        "cwd": os.getcwd(),
    }
    try:
        assert False, "asserts are on"
        out["asserts"] = "stripped"
    except AssertionError:
        out["asserts"] = "active"
    for name in qs.get("import", []):
        try:
            mod = __import__(name)
            out["import"] = {"name": name, "file": getattr(mod, "__file__", None),
                             "value": getattr(mod, "VALUE", None)}
        except ImportError as e:
            out["import"] = {"name": name, "error": str(e)}
    for d in qs.get("bytecode", []):
        sys.path.insert(0, d)
        try:
            import e2e_bc  # noqa: F401
        finally:
            sys.path.remove(d)
        out["pycache"] = os.path.isdir(os.path.join(d, "__pycache__"))
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
