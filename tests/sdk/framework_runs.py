"""Runs the shop applications of tests/sdk/frameworks/ for tests/sdk/test_frameworks.py: each
application once on the official SDK (OTLP/gRPC straight to the OpenTelemetry Collector)
and once on ours (the file, `otlp-mmap collect`, OTLP/gRPC to the same Collector), driven by
the same fixed request script. Every process listens on 127.0.0.1 only, is bounded in time
and is killed (its whole process group) when the run ends."""

from __future__ import annotations

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
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.app.name}-{self.sdk}"

    def log(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""


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


def wait_listening(proc: subprocess.Popen, port: int, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode} before listening:\n{what()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"not listening after {START_TIMEOUT}s:\n{what()}") from None
            time.sleep(0.1)


def start(argv: List[str], env: Dict[str, str], cwd: Path, name: str) -> subprocess.Popen:
    out = open(cwd / f"{name}.out", "wb")  # noqa: SIM115  (closed when the process is stopped)
    return subprocess.Popen(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        # A group of its own (gunicorn's workers are stopped with it); SIGINT at its default
        # (a parent that ignores it, a background job or CI, would pass that on).
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def stop(proc: subprocess.Popen, sig: int) -> int:
    """Stops the process with `sig`, then kills its group if it has not exited in time."""
    try:
        if proc.poll() is None:
            proc.send_signal(sig)
        return proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        return -9
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the group (workers)
        except ProcessLookupError:
            pass
        proc.wait(timeout=STOP_TIMEOUT)
        if proc.stdout is not None:
            proc.stdout.close()


def run_app(run: Run, collector: otelcol.OtelCol, collect_bin: Path) -> Run:
    """One application on one SDK, start to exit; raises AssertionError when the run itself
    goes wrong (a start failure, a wrong HTTP status, an unclean exit)."""
    began = time.monotonic()
    run.workdir.mkdir(parents=True, exist_ok=True)
    shop.seed(str(run.workdir / shop.DB_PATH))
    run.port = otelcol.free_port()
    env = environment(run, collector)
    collect = None
    if run.sdk == "ours":
        collect_env = {k: v for k, v in env.items() if not k.startswith(("OTEL_", "SDK_MMAP_"))}
        collect = start(
            [str(collect_bin), "collect", "--file", env["SDK_MMAP_EXPORTER_FILE"], "--endpoint",
             f"http://{collector.grpc_endpoint}", "--protocol", "grpc", "--stats-interval", "0"],
            collect_env, run.workdir, "collect",
        )  # fmt: skip
    argv = run.app.command(run.port)
    if run.app.auto_instrumented:
        argv = [str(BIN / "opentelemetry-instrument"), *argv]
    app = start(argv, env, run.workdir, "app")
    try:
        wait_listening(app, run.port, lambda: run.log("app.out"))
        run.statuses = [send(run.port, request) for request in SCRIPT]
    finally:
        app_code = stop(app, run.app.stop_signal)
        collect_code = stop(collect, signal.SIGTERM) if collect is not None else 0  # drains, then exits
    run.seconds = time.monotonic() - began
    assert run.statuses == [r.status for r in SCRIPT], (run.statuses, run.log("app.out"))
    assert app_code == 0, f"{run.label} exited with {app_code}:\n{run.log('app.out')}"
    assert collect_code == 0, f"otlp-mmap collect exited with {collect_code}:\n{run.log('collect.out')}"
    return run
