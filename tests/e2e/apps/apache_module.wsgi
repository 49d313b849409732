# The Python `apache` module and mod_wsgi's process figures, as JSON.
import json

import apache
import mod_wsgi


def application(environ, start_response):
    names = ("version", "maximum_processes", "threads_per_process",
             "description", "mpm_name", "build_date")
    body = {
        "apache": {name: getattr(apache, name, None) for name in names},
        "mod_wsgi": {
            "process_group": mod_wsgi.process_group,
            "maximum_processes": mod_wsgi.maximum_processes,
            "threads_per_process": mod_wsgi.threads_per_process,
        },
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
