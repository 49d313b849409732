"""Importable only through the e2e.pth file in apps/pylib."""
VALUE = "from-pth"
