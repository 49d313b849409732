"""Returns a JSON document describing the request's environ and the
interpreter: {"environ": {key: str or repr}, "types": {key: type name},
"sys": {...}, "mod_wsgi": {...}}.  The response header X-Request-Method
repeats REQUEST_METHOD (for HEAD requests, which have no body)."""
import json
import os
import sys
from wsgiref.validate import validator


def describe(environ):
    env, types = {}, {}
    for k, v in environ.items():
        types[k] = type(v).__name__
        env[k] = v if isinstance(v, str) else repr(v)
    try:
        import mod_wsgi
        mw = {"process_group": mod_wsgi.process_group,
              "application_group": mod_wsgi.application_group,
              "version": repr(mod_wsgi.version)}
    except ImportError:
        mw = None
    return {
        "environ": env,
        "types": types,
        "mod_wsgi": mw,
        "sys": {
            "prefix": sys.prefix,
            "executable": sys.executable,
            "path": sys.path,
            "optimize": sys.flags.optimize,
            "hash_randomization": sys.flags.hash_randomization,
            "dont_write_bytecode": sys.dont_write_bytecode,
            "warnoptions": sys.warnoptions,
            "hash_abc": hash("abc"),
            "pid": os.getpid(),
            "cwd": os.getcwd(),
            "egg_cache": os.environ.get("PYTHON_EGG_CACHE"),
            "version": sys.version,
        },
    }


def app(environ, start_response):
    body = json.dumps(describe(environ), sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body))),
                              ("X-Request-Method", environ["REQUEST_METHOD"])])
    return [body]


application = validator(app)
