"""Runs the shop applications of tests/sdk/frameworks/ for tests/sdk/test_frameworks.py: each
application once on the official SDK (OTLP/gRPC straight to the OpenTelemetry Collector)
and once on ours (the file, `otlp-mmap collect`, OTLP/gRPC to the same Collector), driven by
the same fixed request script. Every process listens on 127.0.0.1 only, is bounded in time
and is killed (its whole process group) when the run ends."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

FRAMEWORKS = Path(__file__).resolve().with_name("frameworks")
OFFICIAL_DISTRO = FRAMEWORKS / "official_sdk"
BIN = Path(sys.executable).parent
START_TIMEOUT = 90.0  # seconds: imports of Django/FastAPI and the instrumentations on a loaded machine
STOP_TIMEOUT = 30.0
REQUEST_TIMEOUT = 30.0
SDKS = ("official", "ours")

sys.path.insert(0, str(FRAMEWORKS))
import shop  # noqa: E402  (the applications' shared module: seeds the database)

from framework_compare import RUN_LABEL, otelcol  # noqa: E402


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    status: int
    body: Optional[dict] = None
    headers: Dict[str, str] = field(default_factory=dict)


REMOTE_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

# The same requests, in this order, one at a time, for every application and SDK.
SCRIPT = [
    Request("GET", "/", 200),
    Request("GET", "/items/1", 200),
    Request("GET", "/items/999", 404),
    Request("POST", "/items", 201, {"name": "shelf", "price": 80}),
    Request("GET", "/proxy/2", 200),
    Request("GET", "/report", 200),  # the 3,000-character SQL statement
    Request("GET", "/log/long", 200),  # the 5,000-character log body
    Request("GET", "/boom", 500),  # the exception event and its stack trace
    Request("GET", "/items/2", 200, headers={"traceparent": REMOTE_PARENT}),
    Request("GET", "/", 200),
    # Last, and with replies of one length: FastAPI's background task of an order overlaps
    # the next request, and the asgi instrumentation keeps the reply's content-length on the
    # middleware object (shared by concurrent requests) until the task has run.
    Request("POST", "/orders", 201, {"item": 3, "qty": 1}),  # 45 USD
    Request("POST", "/orders", 201, {"item": 1, "qty": 2}),  # 60 USD
]


@dataclass(frozen=True)
class App:
    """One application: how it is started and stopped, and how its telemetry is set up
    (`opentelemetry-instrument`, or telemetry_setup.py and the instrumentors in code)."""

    name: str
    command: Callable[[int], List[str]]
    auto_instrumented: bool
    stop_signal: int


APPS = {
    app.name: app
    for app in (
        App("flask", lambda port: [sys.executable, str(FRAMEWORKS / "flask_app.py"), str(port)], True, signal.SIGINT),
        App("gunicorn", lambda port: [str(BIN / "gunicorn"), "--config", str(FRAMEWORKS / "gunicorn.conf.py")],
            False, signal.SIGTERM),  # SIGTERM: graceful, the workers finish (worker_exit flushes)
        App("fastapi", lambda port: [str(BIN / "uvicorn"), "fastapi_app:app", "--host", "127.0.0.1", "--port", str(port),
                                     "--log-config", str(FRAMEWORKS / "uvicorn_logging.json")], True, signal.SIGINT),
        App("django", lambda port: [sys.executable, str(FRAMEWORKS / "django_serve.py"), str(port)], False, signal.SIGINT),
    )
}  # fmt: skip


@dataclass
class Run:
    app: App
    sdk: str
    workdir: Path
    port: int = 0
    statuses: List[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.app.name}-{self.sdk}"


def environment(run: Run, collector: otelcol.OtelCol) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTLP_MMAP_", "SDK_MMAP_", "DJANGO_"))}
    pythonpath = [str(FRAMEWORKS)]
    env.update(
        {
            "FRAMEWORKS_SDK": run.sdk,
            "FRAMEWORKS_PORT": str(run.port),
            "OTEL_SERVICE_NAME": f"shop-{run.app.name}",
            "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment=test,{RUN_LABEL}={run.label}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if run.sdk == "official":
        env.update(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{collector.grpc_endpoint}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
            }
        )
        if run.app.auto_instrumented:
            pythonpath.append(str(OFFICIAL_DISTRO))
            env.update({"OTEL_PYTHON_DISTRO": "official_sdk", "OTEL_PYTHON_CONFIGURATOR": "official_sdk"})
    else:
        env["SDK_MMAP_EXPORTER_FILE"] = str(run.workdir / "telemetry.otlp")
        if run.app.auto_instrumented:
            env.update({"OTEL_PYTHON_DISTRO": "otlp_mmap", "OTEL_PYTHON_CONFIGURATOR": "otlp_mmap"})
    if run.app.auto_instrumented:
        env["OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED"] = "true"
    env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    return env


def send(port: int, request: Request) -> int:
    data = json.dumps(request.body).encode() if request.body is not None else None
    headers = {"Content-Type": "application/json", **request.headers} if data else dict(request.headers)
    req = urllib.request.Request(f"http://127.0.0.1:{port}{request.path}", data, headers, method=request.method)
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)


class Process:
    """A child in a process group of its own (gunicorn's workers go with it), its output in
    <cwd>/<name>.out, stopped with `stop_signal` when the `with` block ends (`code`: its exit
    status, -9 when it had to be killed)."""

    def __init__(self, argv: List[str], env: Dict[str, str], cwd: Path, name: str, stop_signal: int) -> None:
        self.argv, self.env, self.cwd, self.stop_signal = argv, env, cwd, stop_signal
        self.log_path = cwd / f"{name}.out"
        self.code: Optional[int] = None

    def __enter__(self) -> "Process":
        self._out = open(self.log_path, "wb")  # noqa: SIM115  (closed in __exit__)
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=self._out,
            stderr=subprocess.STDOUT, start_new_session=True,
            # SIGINT at its default: a parent that ignores it (a background job, CI) would pass that on.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        return self

    def exited(self) -> bool:
        """Whether it exited, without reaping it: its pid (and group id) stay ours until then."""
        return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    def wait_listening(self, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.exited():
                raise AssertionError(f"exited before listening:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"not listening after {START_TIMEOUT}s:\n{self.log()}") from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        in_time = False
        try:
            if not self.exited():
                self.proc.send_signal(self.stop_signal)
            deadline = time.monotonic() + STOP_TIMEOUT
            while not self.exited() and time.monotonic() < deadline:
                time.sleep(0.05)
            in_time = self.exited()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # what is left of the group (workers), or all of it
            code = self.proc.wait(timeout=STOP_TIMEOUT)
            self.code = code if in_time else -9
            self._out.close()


def run_app(run: Run, collector: otelcol.OtelCol, collect_bin: Path) -> Run:
    """One application on one SDK, start to exit; raises AssertionError when the run itself
    goes wrong (a start failure, a wrong HTTP status, an unclean exit)."""
    run.workdir.mkdir(parents=True, exist_ok=True)
    shop.seed(str(run.workdir / shop.DB_PATH))
    run.port = otelcol.free_port()
    env = environment(run, collector)
    argv = run.app.command(run.port)
    if run.app.auto_instrumented:
        argv = [str(BIN / "opentelemetry-instrument"), *argv]
    with contextlib.ExitStack() as stack:  # stops the application first, then the collector
        collect = None
        if run.sdk == "ours":
            collect = stack.enter_context(
                Process(
                    [str(collect_bin), "collect", "--file", env["SDK_MMAP_EXPORTER_FILE"], "--endpoint",
                     f"http://{collector.grpc_endpoint}", "--protocol", "grpc", "--stats-interval", "0"],
                    {k: v for k, v in env.items() if not k.startswith(("OTEL_", "SDK_MMAP_"))},
                    run.workdir, "collect", signal.SIGTERM,  # SIGTERM: it drains the file, then exits
                )
            )  # fmt: skip
        app = stack.enter_context(Process(argv, env, run.workdir, "app", run.app.stop_signal))
        app.wait_listening(run.port)
        run.statuses = [send(run.port, request) for request in SCRIPT]
    assert run.statuses == [r.status for r in SCRIPT], (run.statuses, app.log())
    assert app.code == 0, f"{run.label} exited with {app.code}:\n{app.log()}"
    assert collect is None or collect.code == 0, f"otlp-mmap collect exited with {collect.code}:\n{collect.log()}"
    return run
