"""Example HTTP server: a Flask application that exercises every OpenTelemetry signal."""

from .app import create_app

__all__ = ["create_app"]
