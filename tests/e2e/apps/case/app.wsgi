"""Lower-case twin of App.wsgi (paths differ only in case): answers its
own file name and its module name (mod_wsgi: _mod_wsgi_<md5 of path>)."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("app.wsgi %s" % __name__).encode()]
