"""Loaded by WSGIImportScript at process start: records when, and where."""
import os
import sys
import time

import mod_wsgi

sys.e2e_imported_at = time.time()
sys.e2e_imported_pid = os.getpid()
sys.e2e_imported_group = mod_wsgi.application_group
print("e2e import script loaded pid=%d" % os.getpid())
sys.stdout.flush()
