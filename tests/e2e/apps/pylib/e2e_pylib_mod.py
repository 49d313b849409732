"""Importable only through WSGIPythonPath (apps/pylib)."""
VALUE = "from-pylib"
