# Fails to load: a syntax error.
def application(environ, start_response)
    return []
