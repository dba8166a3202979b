"""Serves the Django shop on 127.0.0.1:PORT with Django's own server (`runserver
--noreload`, threaded), telemetry and instrumentors set up in code before Django starts."""

from __future__ import annotations

import os
import sys

import telemetry_setup


def main(port: str) -> None:
    shutdown = telemetry_setup.configure()
    from django.core.management import call_command
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djshop.settings")
    DjangoInstrumentor().instrument()  # before django.setup(): it adds its middleware to the settings
    RequestsInstrumentor().instrument()
    SQLite3Instrumentor().instrument()
    import django

    django.setup()  # the project's LOGGING
    try:
        call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, skip_checks=True)
    except KeyboardInterrupt:
        pass
    finally:
        shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
