"""The Flask application. Routes exercise every signal:

* ``/``        a server span and a request counter;
* ``/fib/<n>`` nested spans with attributes and a histogram of the work done;
* ``/error``   an exception recorded on a span, status ERROR, an error log;
* ``/log``     standard-library logging correlated with the current trace.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, jsonify
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.trace import Status, StatusCode

from . import telemetry

MAX_FIB = 30
SPAN_DEPTH = 3  # at most 1 + 2 + 4 spans per request below the server span

log = logging.getLogger("otlp_mmap_example_server")


def fib_plain(k: int) -> int:
    a, b = 0, 1
    for _ in range(k):
        a, b = b, a + b
    return a


def create_app() -> Flask:
    telemetry.configure()
    app = Flask(__name__)
    FlaskInstrumentor().instrument_app(app)

    tracer = trace.get_tracer("otlp_mmap_example_server", "0.1.0")
    meter = metrics.get_meter("otlp_mmap_example_server", "0.1.0")
    requests_total = meter.create_counter("example.requests", unit="{request}", description="Requests served")
    fib_duration = meter.create_histogram(
        "example.fib.duration",
        unit="ms",
        description="Time to compute one /fib/<n> answer",
        explicit_bucket_boundaries_advisory=[0.01, 0.05, 0.1, 0.5, 1, 5, 10, 50],
    )
    errors_total = meter.create_counter("example.errors", unit="{error}", description="Errors raised by /error")

    @app.route("/")
    def index():  # type: ignore[no-untyped-def]
        requests_total.add(1, {"http.route": "/"})
        return jsonify(message="hello from otlp-mmap")

    def fib_traced(k: int, depth: int) -> int:
        """fib(k); the top SPAN_DEPTH levels of the recursion are spans, the rest plain calls."""
        if depth >= SPAN_DEPTH or k < 2:
            return fib_plain(k)
        with tracer.start_as_current_span("fib", attributes={"fib.n": k, "fib.depth": depth}) as span:
            value = fib_traced(k - 1, depth + 1) + fib_traced(k - 2, depth + 1)
            span.set_attribute("fib.value", value)
            return value

    @app.route("/fib/<int:n>")
    def fib(n: int):  # type: ignore[no-untyped-def]
        requests_total.add(1, {"http.route": "/fib/<n>"})
        if n > MAX_FIB:
            return jsonify(error=f"n must be at most {MAX_FIB}"), 400
        start = time.perf_counter()
        value = fib_traced(n, 0)
        fib_duration.record((time.perf_counter() - start) * 1e3, {"http.route": "/fib/<n>"})
        return jsonify(n=n, value=value)

    @app.route("/error")
    def error():  # type: ignore[no-untyped-def]
        requests_total.add(1, {"http.route": "/error"})
        with tracer.start_as_current_span("example.failing_operation") as span:
            try:
                raise ValueError("the example server failed on purpose")
            except ValueError as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                errors_total.add(1, {"error.type": type(exc).__name__})
                log.error("request failed: %s", exc, exc_info=True)
        return jsonify(error="failed on purpose"), 500

    @app.route("/log")
    def log_route():  # type: ignore[no-untyped-def]
        requests_total.add(1, {"http.route": "/log"})
        log.info("a log line from /log at %d", time.time_ns())
        return jsonify(logged=True)

    return app
