# Records mod_wsgi events in this interpreter and reports them (e2e tests
# of events, request_data() and active_requests).
import json
import threading
import time

import mod_wsgi

EVENTS = []


def record(name, **event):
    entry = {"name": name, "keys": sorted(event)}
    data = event.get("request_data")
    if name == "request_started":
        environ = event["request_environ"]
        entry["path"] = environ.get("PATH_INFO", "")
        entry["same_data"] = data is mod_wsgi.request_data()
        data["marker"] = "started"
        if entry["path"] == "/wrapped":
            inner = event["application_object"]

            def wrapper(environ, start_response):
                def unsized(status, headers, exc_info=None):
                    headers = [h for h in headers if h[0].lower() != "content-length"]
                    return start_response(status, headers, exc_info)
                return [b"wrapped:" + b"".join(inner(environ, unsized))]

            return {"application_object": wrapper}
    elif name == "response_started":
        entry["status"] = event["response_status"]
    elif name == "request_finished":
        entry["output_length"] = event["output_length"]
        entry["input_length"] = event["input_length"]
        entry["marker"] = data.get("marker")
        entry["times_ok"] = (event["application_time"] >= 0
                             and event["application_finish"] > 0)
    elif name == "request_exception":
        entry["exception"] = repr(event["exception_info"][1])
    if name != "process_stopping":
        entry["request_id"] = event.get("request_id")
    EVENTS.append(entry)


mod_wsgi.subscribe_events(record)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/events":
        wanted = environ.get("QUERY_STRING", "")
        body = json.dumps([e for e in EVENTS if e.get("request_id") == wanted])
    elif path == "/exceptions":
        paths = {e["request_id"]: e.get("path") for e in EVENTS
                 if e["name"] == "request_started"}
        body = json.dumps([[e["exception"], paths.get(e["request_id"])]
                           for e in EVENTS if e["name"] == "request_exception"])
    elif path == "/raise":
        raise ValueError("e2e event failure")
    elif path == "/post":
        body = environ["wsgi.input"].read().decode("latin-1")
    elif path == "/data":
        request_id = environ["mod_wsgi.request_id"]
        other = {}

        def elsewhere():
            try:
                mod_wsgi.request_data()
                other["error"] = None
            except RuntimeError as e:
                other["error"] = str(e)

        t = threading.Thread(target=elsewhere)
        t.start()
        t.join()
        body = json.dumps({
            "request_id": request_id,
            "data_is_active": mod_wsgi.active_requests.get(request_id) is mod_wsgi.request_data(),
            "marker": mod_wsgi.request_data().get("marker"),
            "active_ids": sorted(mod_wsgi.active_requests),
            "other_thread": other["error"],
        })
    else:
        body = "hello " + path
    data = body.encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(data))),
                              ("X-Request-Id", environ["mod_wsgi.request_id"])])
    return [data]
