"""Application-group probe.  Answers JSON:
{"group": environ mod_wsgi.application_group, "module_group":
mod_wsgi.application_group, "marker": sys.e2e_marker or null,
"hits": requests this interpreter served through any probe script}.
?set=NAME stores NAME as sys.e2e_marker in this interpreter first.
State lives on the per-interpreter ``sys`` module, so two scripts in one
application group share it and scripts in different groups do not."""
import json
import sys
from urllib.parse import parse_qs

import mod_wsgi


def application(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    if "set" in qs:
        sys.e2e_marker = qs["set"][0]
    sys.e2e_hits = getattr(sys, "e2e_hits", 0) + 1
    body = json.dumps({
        "group": environ["mod_wsgi.application_group"],
        "module_group": mod_wsgi.application_group,
        "marker": getattr(sys, "e2e_marker", None),
        "hits": sys.e2e_hits,
        "script": __file__,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
