"""Reports SO_SNDBUF/SO_RCVBUF of this daemon process's UNIX sockets named
*.sock: the group's listener and the connection this request came on."""
import json
import os
import socket


def application(environ, start_response):
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            s = socket.socket(fileno=os.dup(int(name)))
        except (OSError, ValueError):
            continue
        try:
            if s.family != socket.AF_UNIX or s.type != socket.SOCK_STREAM:
                continue
            path = s.getsockname()
            if not isinstance(path, str) or not path.endswith(".sock"):
                continue
            found.append({
                "listening": bool(s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)),
                "sndbuf": s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
                "rcvbuf": s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
            })
        finally:
            s.close()
    body = json.dumps(found).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
