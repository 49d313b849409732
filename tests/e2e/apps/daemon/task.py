"""A managed task for a threads=0 daemon group (WSGIImportScript): notes in
ROOT/tmp/task-<pid> (or taskh-<pid>) that it started (and on which thread),
then runs until ROOT/tmp/task-exit-<pid> exists (and returns), or until it
is stopped (SystemExit).  Loaded as task_handler.py it first installs its
own SIGTERM handler, which notes the signal and exits."""
import os
import signal
import threading
import time

TMP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "tmp")
PID = os.getpid()
OWN_HANDLER = os.path.basename(__file__).startswith("task_handler")
NOTES = os.path.join(TMP, ("taskh-%d" if OWN_HANDLER else "task-%d") % PID)


def note(what):
    with open(NOTES, "a") as f:
        f.write(what + "\n")


def on_sigterm(signum, frame):
    note("handler %d" % signum)
    raise SystemExit(0)


if OWN_HANDLER:
    signal.signal(signal.SIGTERM, on_sigterm)

note("start main=%d" % (threading.current_thread() is threading.main_thread()))
try:
    while not os.path.exists(os.path.join(TMP, "task-exit-%d" % PID)):
        time.sleep(0.05)
    note("returned")
except SystemExit:
    note("systemexit")
    raise
