"""WSGIHandlerScript target: handle_request() serves any file mapped to the
handler; it answers the file's name and contents."""
import json


def handle_request(environ, start_response):
    with open(environ["SCRIPT_FILENAME"], "rb") as f:
        data = f.read().decode()
    body = json.dumps({
        "script_filename": environ["SCRIPT_FILENAME"],
        "content": data,
        "handler_script": environ.get("mod_wsgi.handler_script"),
        "request_handler": environ.get("mod_wsgi.request_handler"),
        "callable_object": environ.get("mod_wsgi.callable_object"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
