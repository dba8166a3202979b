"""A real OpenTelemetry Collector for end-to-end tests.

The binary is built from the Go module proxy by scripts/build-otelcol.sh (ocb, config in
tools/otelcol/builder-config.yaml) into .cache/otelcol/<hash>/otelcol-test; OTELCOL_BIN
overrides the path. This module runs it on 127.0.0.1 only:

    with OtelCol() as col:                   # free ports, temp dir, waits until ready
        send_to(col.grpc_endpoint)           # "127.0.0.1:<port>"  (OTLP/gRPC)
        send_to(col.http_endpoint)           # "http://127.0.0.1:<port>" (OTLP/HTTP, /v1/traces ...)
        spans = col.wait_for(lambda c: c.spans(), timeout=10)
        col.stop(); ...; col.start()         # outage: same ports after a restart

Everything received goes to a file exporter (one JSON object per line, OTLP/JSON:
TracesData / MetricsData / LogsData) in the temp dir; a new file is used for every start,
and records() reads all of them in order. The collector's own log is in `log_path`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

ROOT = Path(__file__).resolve().parents[2]
BUILDER_CONFIG = ROOT / "tools" / "otelcol" / "builder-config.yaml"
E2E_ENV = "OTLP_MMAP_E2E"
READY_LINE = "Everything is ready"

SIGNALS = {  # OTLP/JSON top-level key -> (scope list key, item list key)
    "resourceSpans": ("scopeSpans", "spans"),
    "resourceMetrics": ("scopeMetrics", "metrics"),
    "resourceLogs": ("scopeLogs", "logRecords"),
}


def default_binary() -> Path:
    """Where scripts/build-otelcol.sh puts the binary (same hash of the builder config)."""
    env = os.environ.get("OTELCOL_BIN")
    if env:
        return Path(env)
    digest = hashlib.sha256(BUILDER_CONFIG.read_bytes()).hexdigest()[:16]
    return ROOT / ".cache" / "otelcol" / digest / "otelcol-test"


def binary_available() -> bool:
    b = default_binary()
    return b.is_file() and os.access(b, os.X_OK)


def e2e_required() -> bool:
    """True when OTLP_MMAP_E2E is set (non-empty): then a missing collector is a failure."""
    return bool(os.environ.get(E2E_ENV))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class OtelColError(RuntimeError):
    pass


class OtelCol:
    """One collector process (restartable) with OTLP gRPC + HTTP receivers and a JSON file exporter."""

    def __init__(self, binary: str | Path | None = None, workdir: str | Path | None = None, *,
                 debug_verbosity: str | None = "basic", batch: bool = False,
                 startup_timeout: float = 30.0, stop_timeout: float = 10.0,
                 flush_interval: str = "100ms", file_exporter: bool = True):
        self.binary = Path(binary) if binary else default_binary()
        if not (self.binary.is_file() and os.access(self.binary, os.X_OK)):
            raise OtelColError(f"collector binary not found: {self.binary} (run scripts/build-otelcol.sh)")
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="otelcol-")
            workdir = self._tmp.name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.debug_verbosity = debug_verbosity
        self.batch = batch
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.flush_interval = flush_interval
        self.file_exporter = file_exporter  # False: only the debug exporter (benchmarks)
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.log_path = self.workdir / "collector.log"
        self._log = None

    # -- endpoints ------------------------------------------------------------------------
    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- lifecycle ------------------------------------------------------------------------
    def _config(self, out_file: Path) -> dict:
        exporters: dict[str, Any] = {}
        names = []
        if self.file_exporter:
            exporters["file"] = {"path": str(out_file), "format": "json", "flush_interval": self.flush_interval}
            names.append("file")
        if self.debug_verbosity:
            exporters["debug"] = {"verbosity": self.debug_verbosity}
            names.append("debug")
        pipeline = {"receivers": ["otlp"], "exporters": names}
        processors = {}
        if self.batch:
            processors["batch"] = {"timeout": "200ms"}
            pipeline["processors"] = ["batch"]
        return {
            "receivers": {"otlp": {"protocols": {
                "grpc": {"endpoint": self.grpc_endpoint},
                "http": {"endpoint": f"127.0.0.1:{self.http_port}"},
            }}},
            "processors": processors,
            "exporters": exporters,
            "service": {
                # No internal metrics endpoint (it would listen on a fixed port).
                "telemetry": {"logs": {"level": "info", "encoding": "console"},
                              "metrics": {"level": "none"}},
                "pipelines": {s: dict(pipeline) for s in ("traces", "metrics", "logs")},
            },
        }

    def start(self) -> "OtelCol":
        """Start (or restart after stop()) and wait until both receivers accept connections.

        The first start picks free ports; later starts reuse them so clients reconnect.
        """
        if self.running:
            raise OtelColError("already running")
        first = self.grpc_port is None
        attempts = 3 if first else 1
        last_err = None
        for _ in range(attempts):
            if first:
                self.grpc_port, self.http_port = free_port(), free_port()
                while self.http_port == self.grpc_port:
                    self.http_port = free_port()
            try:
                self._spawn()
                return self
            except OtelColError as e:  # e.g. a port taken between free_port() and bind
                last_err = e
        raise last_err  # type: ignore[misc]

    def _spawn(self) -> None:
        self.starts += 1
        out_file = self.workdir / f"export-{self.starts:03d}.jsonl"
        cfg_path = self.workdir / f"config-{self.starts:03d}.yaml"
        cfg_path.write_text(json.dumps(self._config(out_file), indent=2))  # JSON is YAML
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(self.binary), f"--config=file:{cfg_path}"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=self.workdir, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._close_log()
                raise OtelColError(f"collector exited with {self.proc.returncode}:\n{self.log_tail(log_offset)}")
            if READY_LINE in self.log_tail(log_offset) and _port_open(self.grpc_port) and _port_open(self.http_port):
                return
            time.sleep(0.05)
        self.stop(kill=True)
        raise OtelColError(f"collector not ready after {self.startup_timeout}s:\n{self.log_tail(log_offset)}")

    def stop(self, kill: bool = False) -> int | None:
        """Stop the collector (SIGTERM: it flushes the file exporter; kill=True: SIGKILL).

        Returns its exit code, or None if it was not running.
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=self.stop_timeout)
        code = self.proc.returncode
        self._close_log()
        return code

    def restart(self) -> "OtelCol":
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "OtelCol":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def log_tail(self, offset: int = 0, limit: int = 20000) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            data = f.read()
        return data[-limit:].decode("utf-8", "replace")

    # -- exported data --------------------------------------------------------------------
    def export_files(self) -> list[Path]:
        return sorted(self.workdir.glob("export-*.jsonl"))

    def records(self) -> list[dict]:
        """Every exported JSON object (TracesData / MetricsData / LogsData) so far, in order.

        A last line that is still being written (no newline yet) is left out.
        """
        return [rec for path in self.export_files() for rec in json_lines(path)]

    def _items(self, top: str) -> Iterator[tuple[dict, dict, dict]]:
        return iter(items(self.records(), top))

    def spans(self) -> list[dict]:
        """Span dicts (OTLP/JSON: camelCase keys, hex ids, 64-bit ints as strings)."""
        return [s for _, _, s in self._items("resourceSpans")]

    def metrics(self) -> list[dict]:
        return [m for _, _, m in self._items("resourceMetrics")]

    def logs(self) -> list[dict]:
        return [r for _, _, r in self._items("resourceLogs")]

    def items_with_context(self, top: str) -> list[tuple[dict, dict, dict]]:
        """(resource, scope, item) triples for 'resourceSpans', 'resourceMetrics' or 'resourceLogs'."""
        return list(self._items(top))

    def wait_for(self, probe: Callable[["OtelCol"], Any], timeout: float = 10.0, interval: float = 0.05):
        """Poll probe(self) until it returns something truthy (returned), or raise after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe(self)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s; collector log:\n{self.log_tail(limit=4000)}")
            time.sleep(interval)


def json_lines(path: Path) -> list[dict]:
    """The JSON objects of an OTLP/JSON lines file (a file exporter's, or our console
    exporter's); a last line still being written (no newline yet) is left out."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]
    return [json.loads(line) for line in lines if line.strip()]


def items(records: Iterable[dict], top: str) -> list[tuple[dict, dict, dict]]:
    """(resource, scope, item) triples under `top` ('resourceSpans', 'resourceMetrics' or
    'resourceLogs') of exported records, in order."""
    scopes_key, items_key = SIGNALS[top]
    out = []
    for rec in records:
        for rs in rec.get(top, []):
            for ss in rs.get(scopes_key, []):
                for item in ss.get(items_key, []):
                    out.append((rs.get("resource", {}), ss.get("scope", {}), item))
    return out


def point_value(point: dict) -> int | float:
    """The value of a sum or gauge data point (OTLP/JSON writes 64-bit integers as strings)."""
    return int(point["asInt"]) if "asInt" in point else float(point.get("asDouble", 0.0))


def attributes(item: dict) -> dict:
    """OTLP/JSON attribute list -> {key: python value} (nested values left as JSON dicts)."""
    out = {}
    for kv in item.get("attributes", []):
        v = kv.get("value", {})
        if "stringValue" in v:
            out[kv["key"]] = v["stringValue"]
        elif "intValue" in v:
            out[kv["key"]] = int(v["intValue"])
        elif "doubleValue" in v:
            out[kv["key"]] = float(v["doubleValue"])
        elif "boolValue" in v:
            out[kv["key"]] = bool(v["boolValue"])
        else:
            out[kv["key"]] = v
    return out


def any_value(v: dict) -> Any:
    """OTLP/JSON AnyValue -> the Python value (arrays as lists, kvlists as dicts, bytes as
    ("bytes", base64 text)); an empty AnyValue is None."""
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        return [any_value(x) for x in v["arrayValue"].get("values", [])]
    if "kvlistValue" in v:
        return {kv["key"]: any_value(kv.get("value", {})) for kv in v["kvlistValue"].get("values", [])}
    if "bytesValue" in v:
        return ("bytes", v["bytesValue"])
    return None


def plain_attributes(item: dict) -> dict:
    """OTLP/JSON attribute list -> {key: python value}, nested values included."""
    return {kv["key"]: any_value(kv.get("value", {})) for kv in item.get("attributes", [])}
