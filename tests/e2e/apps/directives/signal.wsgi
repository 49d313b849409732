"""Tries to install a SIGUSR2 handler; answers repr of what signal.signal
returned and whether the handler is now installed."""
import signal


def handler(signum, frame):
    pass


def application(environ, start_response):
    ret = signal.signal(signal.SIGUSR2, handler)
    installed = signal.getsignal(signal.SIGUSR2) is handler
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("returned=%r installed=%r" % (ret, installed)).encode()]
