"""Runs the example server under Flask's own server: ``python -m otlp_mmap_example_server``.

Environment: SDK_MMAP_EXPORTER_FILE or OTEL_EXPORTER_OTLP_ENDPOINT (see telemetry.py),
HTTP_ENDPOINT_PORT (default 5000), HTTP_ENDPOINT_HOST (default 127.0.0.1), OTEL_SERVICE_NAME.
Under gunicorn use ``gunicorn -c python:otlp_mmap_example_server.gunicorn_conf
'otlp_mmap_example_server.wsgi:app'``.
"""

from __future__ import annotations

import os
import signal

from . import telemetry


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main() -> None:
    telemetry.telemetry_mode()  # exit 2 with a clear message before anything else
    # Stop cleanly (flushing telemetry) on SIGTERM, as a container runtime sends it, and on
    # Ctrl-C even when started from a shell that left SIGINT ignored for background jobs.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from .app import create_app

    app = create_app()
    try:
        app.run(host=os.environ.get("HTTP_ENDPOINT_HOST", "127.0.0.1"),
                port=int(os.environ.get("HTTP_ENDPOINT_PORT", "5000")), threaded=True)
    finally:
        telemetry.shutdown()


if __name__ == "__main__":
    main()
