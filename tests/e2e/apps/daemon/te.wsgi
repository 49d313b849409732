"""Sets its own (hop-by-hop) Transfer-Encoding: chunked header but returns a
plain body; ?cl=1 adds a correct Content-Length too."""


def application(environ, start_response):
    body = b"hello te\n"
    headers = [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")]
    if "cl=1" in environ.get("QUERY_STRING", ""):
        headers.append(("Content-Length", str(len(body))))
    start_response("200 OK", headers)
    return [body]
