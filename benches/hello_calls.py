"""The hello app plus, in the app itself, the three Python calls one event
subscriber receives per request: `cb(name, **event)` for request_started,
response_started and request_finished, with the same keyword names.

benches/events.sh serves it with no subscriber as the floor of issue #5's
10% budget: what those calls cost through Apache with no event machinery,
no CPU-time sampling and no module code involved. The module cannot make a
subscriber cheaper than the calls it is required to make.
"""

BODY = b'Hello world!\n'
HEADERS = [('Content-Type', 'text/plain'), ('Content-Length', str(len(BODY)))]

STARTED = dict.fromkeys((
    'request_id', 'thread_id', 'daemon_connects', 'daemon_restarts',
    'request_start', 'queue_start', 'daemon_start', 'application_object',
    'request_environ', 'application_start', 'request_data'), 0.0)
RESPONSE = dict.fromkeys((
    'request_id', 'response_status', 'response_headers', 'exception_info',
    'request_data'), 0.0)
FINISHED = dict.fromkeys((
    'request_id', 'input_reads', 'input_length', 'input_time',
    'output_length', 'output_writes', 'output_time', 'cpu_user_time',
    'cpu_system_time', 'application_finish', 'application_time',
    'request_data'), 0.0)


def on_event(name, **event):
    pass


def application(environ, start_response):
    on_event('request_started', **STARTED)
    start_response('200 OK', HEADERS)
    on_event('response_started', **RESPONSE)
    on_event('request_finished', **FINISHED)
    return [BODY]
