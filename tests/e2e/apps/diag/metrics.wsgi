# Reports mod_wsgi.process_metrics() and server_metrics() as JSON.
import json

import mod_wsgi


def application(environ, start_response):
    server = mod_wsgi.server_metrics()
    if server is not None:
        workers = [w for p in server["processes"] for w in p["workers"]]
        server = {
            "keys": sorted(server),
            "process_keys": sorted(server["processes"][0]) if server["processes"] else [],
            "worker_keys": sorted(workers[0]) if workers else [],
            "busy": sum(1 for w in workers if w["status"] == "W"),
        }
    body = json.dumps({"process": mod_wsgi.process_metrics(), "server": server},
                      default=str).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
