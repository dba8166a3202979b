"""WSGI entry point for gunicorn: the application is created in each worker, after the
fork, so every worker has its own telemetry providers (and its own process.pid)."""

from __future__ import annotations

from .app import create_app

app = create_app()
