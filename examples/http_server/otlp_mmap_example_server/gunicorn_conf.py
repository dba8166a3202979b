"""gunicorn settings for the example server (``-c python:otlp_mmap_example_server.gunicorn_conf``).

The app is not preloaded: each worker imports it after the fork and sets up its own
telemetry. Every worker writes into the same otlp-mmap file.
"""

from __future__ import annotations

import os

bind = f"{os.environ.get('HTTP_ENDPOINT_HOST', '127.0.0.1')}:{os.environ.get('HTTP_ENDPOINT_PORT', '5000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "sync" if threads == 1 else "gthread"
preload_app = False
graceful_timeout = 10
timeout = 30
# GUNICORN_ACCESSLOG=path: one line per request served (the load benchmark counts them).
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None


def worker_exit(server, worker) -> None:  # type: ignore[no-untyped-def]
    from otlp_mmap_example_server import telemetry

    telemetry.shutdown()
