"""Reports what the WSGIImportScript left in this interpreter."""
import json
import os
import sys
import time


def application(environ, start_response):
    body = json.dumps({
        "imported_at": getattr(sys, "e2e_imported_at", None),
        "imported_pid": getattr(sys, "e2e_imported_pid", None),
        "imported_group": getattr(sys, "e2e_imported_group", None),
        "pid": os.getpid(),
        "now": time.time(),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
