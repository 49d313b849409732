"""sys.stdin / sys.stdout / sys.stderr / wsgi.errors from an application.

/stdout   print() pieces: "e2e-stdout-a" without newline, then "-b\n"; then
          "e2e-stdout-2\n".  Answers "ok" or the exception (restricted).
/stderr   same on sys.stderr ("e2e-stderr-...")
/errors   same on wsgi.errors ("e2e-errors-...")
/stdin    sys.stdin.read(); answers repr of the result or of the exception
"""
import sys


def write3(stream, tag):
    stream.write("e2e-%s-a" % tag)
    stream.write("-b\n")
    stream.write("e2e-%s-2\n" % tag)


def application(environ, start_response):
    what = environ["PATH_INFO"]
    try:
        if what == "/stdout":
            print("e2e-stdout-a", end="")
            print("-b")
            print("e2e-stdout-2")
            result = "ok"
        elif what == "/stderr":
            write3(sys.stderr, "stderr")
            result = "ok"
        elif what == "/errors":
            write3(environ["wsgi.errors"], "errors")
            result = "ok"
        elif what == "/stdin":
            result = "read %r" % (sys.stdin.read(),)
        else:
            raise ValueError(what)
    except Exception as e:
        result = "%s: %s" % (type(e).__name__, e)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [result.encode()]
