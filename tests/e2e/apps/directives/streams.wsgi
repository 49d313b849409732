"""sys.stdout, sys.stderr and wsgi.errors as text streams: what code that
treats them as io.TextIOWrapper objects (as mod_wsgi's are) can rely on.
Answers JSON; writes "e2e-streams-..." lines to the error log."""
import io
import json
import sys


def describe(stream):
    out = {
        "text_stream": isinstance(stream, io.TextIOBase),
        "name": stream.name,
        "line_buffering": stream.line_buffering,
        "writable": stream.writable(),
        "write": stream.write("e2e-streams-%s\n" % stream.name),
    }
    try:
        stream.fileno()
        out["fileno"] = "no error"
    except OSError:
        out["fileno"] = "OSError"
    stream.reconfigure(line_buffering=True)
    stream.buffer.write(("e2e-streams-buffer-%s-\u00e9\n" % stream.name).encode())
    stream.buffer.flush()
    return out


def application(environ, start_response):
    body = {
        "stdout": describe(sys.stdout),
        "stderr": describe(sys.stderr),
        "errors": describe(environ["wsgi.errors"]),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
