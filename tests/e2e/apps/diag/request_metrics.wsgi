# /sample answers mod_wsgi.request_metrics() as JSON; /work sleeps 20 ms.
import json
import time

import mod_wsgi


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/sample":
        body = {"metrics": mod_wsgi.request_metrics(),
                "threads_per_process": mod_wsgi.threads_per_process}
    else:
        time.sleep(0.02)
        body = {}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
