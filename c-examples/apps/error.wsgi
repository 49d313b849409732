# Fails before starting a response: the host must answer 500 and the
# traceback must reach the host's log callback.
def application(environ, start_response):
    raise RuntimeError('unit_host test: deliberate failure')
