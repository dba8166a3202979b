"""`opentelemetry-instrument python app.py` runs a Flask app on our SDK with no code change:
the Flask instrumentation's server spans (and the app's own spans, children of them) land
in the file. The app listens on 127.0.0.1 only; everything is bounded in time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from otlp_mmap import Reader
from sdk_support import aggregate_metrics, merge_spans, read_all

pytest.importorskip("flask")
pytest.importorskip("opentelemetry.instrumentation.flask")

APP = textwrap.dedent(
    """
    import sys
    from flask import Flask
    from opentelemetry import trace

    app = Flask(__name__)
    tracer = trace.get_tracer("tiny-app")

    @app.route("/hello/<name>")
    def hello(name):
        with tracer.start_as_current_span("greeting") as span:
            span.set_attribute("greeting.name", name)
            return f"hello {name}"

    @app.route("/fail")
    def fail():
        raise RuntimeError("boom")

    if __name__ == "__main__":
        app.run(host="127.0.0.1", port=int(sys.argv[1]))
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, headers: Any = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_opentelemetry_instrument_flask(tmp_path: Path, path: str) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    port = free_port()
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    assert instrument.exists(), "opentelemetry-instrumentation is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        {
            "SDK_MMAP_EXPORTER_FILE": path,
            "OTEL_SERVICE_NAME": "tiny-flask",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "",
            "PYTHONUNBUFFERED": "1",
        }
    )
    proc = subprocess.Popen(
        [str(instrument), sys.executable, str(app), str(port)],
        env=env,
        cwd=tmp_path,
        # SIGINT stops the app below; a parent that ignores SIGINT (a background job, CI)
        # would pass that on, and Python would then never raise KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the app did not start"
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        assert get(f"{base}/hello/ann") == 200
        traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        assert get(f"{base}/hello/bob", {"traceparent": traceparent}) == 200
        assert get(f"{base}/fail") == 500
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert "Failed to auto initialize" not in output, output

    metrics = aggregate_metrics(path)  # consumes the measurements
    assert any(name.startswith("http.server") for name in metrics), list(metrics)
    spans = list(merge_spans(read_all(path)["spans"]).values())
    servers = [s for s in spans if s["kind"] == 2]
    assert len(servers) == 3, output
    by_target = {s["attributes"].get("http.target", s["attributes"].get("url.path")): s for s in servers}
    ann, bob, fail = by_target["/hello/ann"], by_target["/hello/bob"], by_target["/fail"]
    assert ann["name"] == "GET /hello/<name>"
    assert ann["attributes"].get("http.route") == "/hello/<name>"
    assert ann["attributes"].get("http.status_code", ann["attributes"].get("http.response.status_code")) == 200
    assert ann["end"] is not None and ann["parent_span_id"] is None
    greetings = [s for s in spans if s["name"] == "greeting"]
    assert {g["parent_span_id"] for g in greetings} == {ann["span_id"], bob["span_id"]}
    assert bob["trace_id"] == bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    assert bob["parent_span_id"] == bytes.fromhex("00f067aa0ba902b7")
    assert bob["flags"] & 0x200  # the parent is remote
    assert fail["status"]["code"] == 2

    # opentelemetry-instrument names its version to the configurator; the official SDK's puts
    # it on the resource as telemetry.auto.version, and so does ours.
    from opentelemetry.instrumentation.version import __version__ as instrument_version  # noqa: PLC0415

    with Reader(path) as reader:
        resource = reader.read_resource(reader.read_scope(ann["scope_ref"])["resource_ref"])["attributes"]
    assert resource["telemetry.auto.version"] == instrument_version
    assert resource["service.name"] == "tiny-flask"
