# Per-interpreter set-up run by wsgirt in every interpreter it creates
# (src/module/bootstrap.py, executed by src/python/interp.rs). It only uses
# the standard library and the builtin `mod_wsgi` module.
import sys


class _Restricted(object):
    """Stands in for sys.stdin/sys.stdout under WSGIRestrictStdin/Stdout."""

    def __init__(self, name):
        self.__dict__['_name'] = name

    def __getattr__(self, attr):
        raise IOError('%s access restricted by mod_wsgi' % self._name)


def _intercept_signals(log):
    import os
    import signal

    wrapped = signal.signal
    owner = os.getpid()

    def signal_intercept(signum, handler):
        # Processes forked by the application may register handlers freely.
        if os.getpid() != owner:
            return wrapped(signum, handler)
        log(4, 'WSGIRT0304: mod_wsgi (pid=%d): Callback registration for signal %d ignored.'
            % (os.getpid(), signum))
        # Imported here, not at start-up: traceback pulls in linecache,
        # tokenize, re and textwrap, ~0.5 MiB per interpreter that most
        # applications never need.
        import traceback
        for entry in traceback.format_stack()[:-1]:
            for line in entry.rstrip('\n').split('\n'):
                log(4, line)
        # As mod_wsgi: the handler given is returned, nothing is installed.
        return handler

    signal.signal = signal_intercept


class _LogBuffer(object):
    """The `buffer` of a log stream. mod_wsgi's streams are io.TextIOWrapper
    objects over its log, so code that writes bytes to `sys.stdout.buffer`
    works there; here bytes are logged as UTF-8 text, errors replaced."""

    def __init__(self, log):
        self._log = log

    def write(self, data):
        data = memoryview(data).tobytes()
        self._log.write(data.decode('utf-8', 'replace'))
        return len(data)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        self._log.flush()

    def close(self):
        self._log.close()

    def fileno(self):
        return self._log.fileno()

    def isatty(self):
        return False

    def readable(self):
        return False

    def seekable(self):
        return False

    def writable(self):
        return True

    @property
    def closed(self):
        return self._log.closed

    @property
    def name(self):
        return self._log.name


def _text_stream_api(log_type, stdout, stderr):
    # The rest of io.TextIOWrapper's surface that code reaches for on
    # sys.stdout, sys.stderr and wsgi.errors, added once per interpreter on
    # the log type (the write path stays in the module's C code).
    import io

    def fileno(self):
        raise OSError('Apache/mod_wsgi log object is not associated with a file descriptor.')

    def reconfigure(self, *, encoding=None, errors=None, newline=None,
                    line_buffering=None, write_through=None):
        # Lines are always logged whole and as text: nothing to change but,
        # like TextIOWrapper, what is pending is flushed first.
        self.flush()

    def name(self):
        if self is stdout:
            return '<stdout>'
        if self is stderr:
            return '<stderr>'
        return '<wsgi.errors>'

    log_type.fileno = fileno
    log_type.reconfigure = reconfigure
    log_type.name = property(name)
    log_type.buffer = property(_LogBuffer)
    log_type.line_buffering = property(lambda self: True)
    log_type.write_through = property(lambda self: True)
    io.TextIOBase.register(log_type)


def _add_site_dirs(paths, log):
    # site.addsitedir() appends; like mod_wsgi, move what it added (the
    # directory and anything its .pth files named) to the front of sys.path.
    # As mod_wsgi: an info line per directory, and a directory that makes
    # addsitedir() raise (a .pth the locale cannot decode) is one error
    # line and the end of the list, not the end of the interpreter.
    import os
    import site
    before = list(sys.path)
    for index, path in enumerate(paths):
        log(6, "mod_wsgi (pid=%d): Adding '%s' to path." % (os.getpid(), path))
        try:
            site.addsitedir(path)
        except Exception:
            log(3, "mod_wsgi (pid=%d): Call to 'site.addsitedir()' failed for '%s'%s."
                % (os.getpid(), path, ', stopping' if index < len(paths) - 1 else ''))
            break
    added = [entry for entry in sys.path if entry not in before]
    sys.path[:] = added + before


def setup(stdout, stderr, restrict_stdin, restrict_stdout, restrict_signal, paths, home, log):
    # Import threading now, on the thread creating the interpreter, so that
    # threading's idea of the main thread is this one and not whichever
    # request thread imports it first (which would make threading._shutdown()
    # wait forever at exit), as mod_wsgi does.
    import threading  # noqa: F401
    # mod_wsgi gives every interpreter this argv (argparse's prog, and code
    # that looks at sys.argv[0], see the same).
    sys.argv = ['mod_wsgi']
    _text_stream_api(type(stderr), stdout, stderr)
    sys.stderr = stderr
    # stdout is None in single-process mode (apache2 -X): as mod_wsgi, the
    # console's sys.stdout and sys.stdin stay, so pdb can be used.
    if stdout is not None:
        sys.stdout = _Restricted('sys.stdout') if restrict_stdout else stdout
        if restrict_stdin:
            sys.stdin = _Restricted('sys.stdin')
    if restrict_signal:
        _intercept_signals(log)
    if paths:
        _add_site_dirs(paths, log)
    if home is not None:
        # A daemon's home= goes first, ahead of its python-path, as mod_wsgi
        # does it (like the script's directory of `python script.py`).
        sys.path.insert(0, home)
    _adopt_package(sys.modules['mod_wsgi'], log)
    # mod_wsgi creates the `apache` module with every interpreter, so code
    # that looks for it in sys.modules (to tell it runs under mod_wsgi)
    # finds it without importing it.
    import apache  # noqa: F401


def _adopt_package(module, log):
    """mod_wsgi imports a `mod_wsgi` package found on sys.path (pip's
    mod_wsgi: the files mod_wsgi-express writes import its
    `mod_wsgi.server`) and adds the embedded attributes to it. Our module is
    a builtin, which no package can replace, so it takes the package's
    place instead: the package's directories become its `__path__` (its
    submodules import) and the package's `__init__` runs in its namespace,
    after which the embedded attributes are put back (they win, as in
    mod_wsgi). A failing `__init__` is logged and leaves the module as it
    was, as mod_wsgi falls back to a plain module."""
    from importlib.machinery import PathFinder

    spec = PathFinder.find_spec('mod_wsgi')
    if spec is None or not spec.submodule_search_locations or not spec.origin:
        return
    embedded = dict(module.__dict__)
    try:
        module.__path__ = list(spec.submodule_search_locations)
        module.__file__ = spec.origin
        code = spec.loader.get_code('mod_wsgi')
        exec(code, module.__dict__)
    except BaseException:
        import traceback
        for line in traceback.format_exc().rstrip('\n').split('\n'):
            log(3, line)
        module.__dict__.clear()
        module.__dict__.update(embedded)
        return
    for name, value in embedded.items():
        if not name.startswith('__'):
            setattr(module, name, value)
    if module.application_group == '':
        import os
        log(6, "mod_wsgi (pid=%d): Imported 'mod_wsgi'." % os.getpid())
