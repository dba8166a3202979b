"""gunicorn serving flask_app:app with two gthread workers. Telemetry is set up in each
worker after the fork (post_fork, as both SDKs advise for pre-fork servers) with the
instrumentors applied in code; gunicorn's own logging comes from logconfig_dict."""

from __future__ import annotations

import os

import telemetry_setup

bind = f"127.0.0.1:{os.environ['FRAMEWORKS_PORT']}"
workers = 2
worker_class = "gthread"
threads = 2  # /proxy calls the server itself
timeout = 60
graceful_timeout = 20
wsgi_app = "flask_app:app"
logconfig_dict = {
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        # gunicorn's own lines carry pids and times: console only.
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "shop": {"level": "DEBUG"},
    },
}

_shutdown = []


def post_fork(server, worker):  # noqa: ARG001
    _shutdown.append(telemetry_setup.configure())
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.jinja2 import Jinja2Instrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

    # Before the worker imports flask_app (gunicorn loads the application after post_fork).
    FlaskInstrumentor().instrument()
    Jinja2Instrumentor().instrument()
    RequestsInstrumentor().instrument()
    SQLite3Instrumentor().instrument()


def worker_exit(server, worker):  # noqa: ARG001
    for shutdown in _shutdown:
        shutdown()
