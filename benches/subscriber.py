# One no-op event subscriber in %{GLOBAL}, loaded with WSGIImportScript by
# benches/events.sh: the cost of the event machinery itself (issue #5: one
# subscriber may cost at most 10% of hello throughput).
import mod_wsgi


def on_event(name, **event):
    pass


mod_wsgi.subscribe_events(on_event)
