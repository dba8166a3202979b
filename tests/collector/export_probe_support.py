"""Helpers of test_export_probe.py: the export_probe program, scripted OTLP servers on
127.0.0.1 (HTTP and gRPC) and throw-away TLS certificates.

export_probe (tests/collector/export_probe.cpp) drives the collector's exporter without the
pipeline; its binary is found through OTLP_MMAP_EXPORT_PROBE or in build/dev.
"""

from __future__ import annotations

import gzip
import json
import os
import queue
import subprocess
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "otlp"))  # otelcol.py

import otelcol  # noqa: E402

PROBE_ENV = "OTLP_MMAP_EXPORT_PROBE"


def probe_binary() -> Path:
    env = os.environ.get(PROBE_ENV)
    if env:
        return Path(env)
    return ROOT / "build" / "dev" / "tests" / "collector" / "export_probe"


def clean_env(**overrides: str) -> dict:
    """The process environment without OTEL_* variables (and proxies), plus `overrides`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OTEL_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(overrides)
    return env


class Probe:
    """One export_probe process; commands on stdin, answers ("PROBE {json}") on stdout."""

    def __init__(self, args: list[str] = (), env: dict | None = None, *, binary: Path | None = None):
        self.binary = binary or probe_binary()
        self.proc = subprocess.Popen([str(self.binary), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env if env is not None else clean_env(),
                                     start_new_session=True)
        self.answers: queue.Queue = queue.Queue()
        self.output: list[str] = []  # other stdout lines (console exporters)
        self.stderr_lines: list[str] = []
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("PROBE "):
                self.answers.put(json.loads(line[6:]))
            else:
                self.output.append(line)
        self.answers.put(None)

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def answer(self, timeout: float) -> dict:
        try:
            a = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"export_probe gave no answer within {timeout}s; stderr:\n{self.stderr}") from None
        if a is None:
            raise RuntimeError(f"export_probe exited ({self.proc.poll()}); stderr:\n{self.stderr}")
        return a

    def ask(self, line: str, timeout: float = 30.0) -> dict:
        self.send(line)
        return self.answer(timeout)

    def stats(self) -> dict:
        return self.ask("stats", timeout=10)

    def flush(self, ms: int) -> bool:
        return self.ask(f"flush {ms}", timeout=ms / 1000 + 10)["flush"]

    def finish(self, timeout: float = 60.0) -> dict:
        """Close stdin; the probe flushes, shuts down and answers its final stats."""
        self.proc.stdin.close()
        final = self.answer(timeout)
        self.proc.wait(timeout=timeout)
        for t in self._threads:
            t.join(timeout=5)
        assert self.proc.returncode == 0, self.stderr
        assert final.get("final"), final
        return final

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def run_probe(args: list[str], env: dict, timeout: float = 60.0) -> tuple[dict, str, str]:
    """Runs the probe with no commands; returns (final answer, other stdout, stderr)."""
    p = Probe(args, env)
    try:
        final = p.finish(timeout)
    finally:
        p.kill()
    return final, "".join(p.output), p.stderr


def check_accounting(stats: dict) -> None:
    """Every item submitted ends exported, rejected or dropped (after the probe's shutdown)."""
    for signal in ("traces", "metrics", "logs"):
        s = stats[signal]
        assert s["exported"] + s["rejected"] + s["dropped"] == s["submitted"], (signal, s)


# ---- a scripted OTLP/HTTP server -----------------------------------------------------------------

@dataclass
class HttpResponse:
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b""


@dataclass
class HttpRequest:
    time: float
    path: str
    headers: dict
    body: bytes  # decompressed


class ScriptedHttpServer:
    """OTLP/HTTP on 127.0.0.1: answers from `script` in order (then 200 with an empty body)."""

    def __init__(self, script: list[HttpResponse] | None = None, ssl_context=None):
        self.script = list(script or [])
        self.requests: list[HttpRequest] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with outer.lock:
                    outer.requests.append(HttpRequest(time.monotonic(), self.path,
                                                      {k.lower(): v for k, v in self.headers.items()}, body))
                    r = outer.script.pop(0) if outer.script else HttpResponse()
                self.send_response(r.status)
                for k, v in r.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.body)))
                self.end_headers()
                self.wfile.write(r.body)

            def log_message(self, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ScriptedHttpServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- a scripted OTLP/gRPC server -----------------------------------------------------------------

@dataclass
class GrpcAnswer:
    code: Any = None  # grpc.StatusCode, None = OK
    message: str = ""
    retry_delay: float | None = None  # seconds: a google.rpc.RetryInfo in the status details
    rejected: int = 0  # partial success
    error_message: str = ""


class ScriptedGrpcServer:
    """OTLP/gRPC (the official opentelemetry-proto stubs) on 127.0.0.1, answering from `script`."""

    def __init__(self, script: list[GrpcAnswer] | None = None, server_credentials=None):
        import grpc
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        self.script = list(script or [])
        self.calls: list[tuple[float, str, dict, Any]] = []  # (time, signal, metadata, request)
        self.lock = threading.Lock()
        outer = self

        def handle(signal, request, context, response, set_rejected):
            with outer.lock:
                outer.calls.append((time.monotonic(), signal, dict(context.invocation_metadata()), request))
                a = outer.script.pop(0) if outer.script else GrpcAnswer()
            if a.code is not None:
                if a.retry_delay is not None:
                    from google.protobuf import any_pb2, duration_pb2
                    from google.rpc import error_details_pb2, status_pb2
                    info = error_details_pb2.RetryInfo(
                        retry_delay=duration_pb2.Duration(seconds=int(a.retry_delay),
                                                          nanos=int((a.retry_delay % 1) * 1e9)))
                    detail = any_pb2.Any()
                    detail.Pack(info)
                    status = status_pb2.Status(code=a.code.value[0], message=a.message, details=[detail])
                    context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
                context.abort(a.code, a.message)
            if a.rejected or a.error_message:
                set_rejected(response.partial_success, a.rejected)
                response.partial_success.error_message = a.error_message
            return response

        class Trace(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):  # noqa: N802
                return handle("traces", request, context, trace_service_pb2.ExportTraceServiceResponse(),
                              lambda p, n: setattr(p, "rejected_spans", n))

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request, context):  # noqa: N802
                return handle("metrics", request, context, metrics_service_pb2.ExportMetricsServiceResponse(),
                              lambda p, n: setattr(p, "rejected_data_points", n))

        class Logs(logs_service_pb2_grpc.LogsServiceServicer):
            def Export(self, request, context):  # noqa: N802
                return handle("logs", request, context, logs_service_pb2.ExportLogsServiceResponse(),
                              lambda p, n: setattr(p, "rejected_log_records", n))

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Trace(), self.server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), self.server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), self.server)
        if server_credentials is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = self.server.add_secure_port("127.0.0.1:0", server_credentials)

    def __enter__(self) -> "ScriptedGrpcServer":
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop(grace=None)


# ---- TLS -----------------------------------------------------------------------------------------

@dataclass
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certs(directory: Path) -> Certs:
    """A throw-away CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=otlp-mmap test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(ext + "\n")
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    return Certs(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key")
