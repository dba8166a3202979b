"""Checks an installed otlp-mmap package in a virtualenv outside the checkout.

    .venv/bin/python scripts/wheel_check.py --venv DIR                   # a wheel with the collector
    .venv/bin/python scripts/wheel_check.py --venv DIR --no-collector REASON

Run by scripts/check-wheel.sh (`make wheel`) and scripts/build-wheels.sh (`make wheels`) with
the project's .venv (it has the test helpers' dependencies); everything under test runs from
DIR, in a temporary directory, with no OTEL_* variables:

* the package imports from DIR (not from the checkout) and its native module loads;
* the collector executable and the native module resolve every shared library either inside
  the package (auditwheel's otlp_mmap.libs) or among the libraries every manylinux system has;
* the SDK writes spans, events, metrics and logs into a file; `otlp-mmap inspect --json` reads them;
* `otlp-mmap collect` exports them to the real OpenTelemetry Collector (tests/otlp/otelcol.py) over
  gRPC, HTTP/protobuf, HTTP/JSON, each with gzip, and over TLS (mutual) for gRPC and HTTP.

With --no-collector (a package built without the collector's libraries): import and writing as
above, and `otlp-mmap` must exit 127 saying that REASON is missing and how to get the collector.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "otlp"))
sys.path.insert(0, str(ROOT / "tests" / "collector"))

import auditwheel  # noqa: E402
import otelcol  # noqa: E402
from export_probe_support import Certs, make_certs  # noqa: E402

# Not libraries of the policy but the kernel's and the dynamic loader.
LOADER = {"linux-vdso.so.1", "ld-linux-x86-64.so.2"}

WRITE_SCRIPT = r"""
import logging, sys
import otlp_mmap
from opentelemetry import metrics, trace
path, service = sys.argv[1], sys.argv[2]
telemetry = otlp_mmap.configure(path, service_name=service, logging_handler=True, strict=True)
with trace.get_tracer("wheel-check").start_as_current_span("wheel-check-span") as span:
    span.set_attribute("check.case", service)
    span.add_event("wheel-check-event", {"n": 1})
    metrics.get_meter("wheel-check").create_counter("wheel_check_requests").add(3, {"case": service})
    logging.getLogger("wheel-check").warning("wheel-check log line")
telemetry.shutdown()
"""


class CheckError(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckError(message)


def clean_env(**extra: str) -> dict[str, str]:
    """No OTEL_*/OTLP_MMAP_* variables, no proxies, no PYTHONPATH: only what a case sets."""
    drop = ("OTEL_", "OTLP_MMAP_", "SDK_MMAP_", "PYTHON")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(drop) and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(extra)
    return env


@dataclass
class Installed:
    venv: Path
    work: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def cli(self) -> Path:
        return self.venv / "bin" / "otlp-mmap"

    def run(self, args: list[str], timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(a) for a in args], cwd=self.work, env=clean_env(**env), capture_output=True,
                              text=True, timeout=timeout)

    def python_out(self, code: str, *args: str) -> str:
        r = self.run([self.python, "-c", code, *args])
        check(r.returncode == 0, f"python -c failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        return r.stdout.strip()

    def package_dir(self) -> Path:
        return Path(self.python_out("import otlp_mmap, os; print(os.path.dirname(otlp_mmap.__file__))"))

    def write(self, path: Path, service: str) -> None:
        r = self.run([self.python, "-c", WRITE_SCRIPT, path, service])
        check(r.returncode == 0 and path.exists(), f"the SDK did not write {path}:\n{r.stdout}{r.stderr}")


def check_import(inst: Installed) -> None:
    pkg = inst.package_dir()
    check(inst.venv.resolve() in pkg.resolve().parents, f"otlp_mmap imported from {pkg}, not from {inst.venv}")
    check(ROOT not in pkg.resolve().parents, f"otlp_mmap imported from the checkout: {pkg}")
    native = inst.python_out("import otlp_mmap._native as n; print(n.__file__)")
    print(f"  import: otlp_mmap from {pkg}, {Path(native).name}: ok")


def platform_tag(site: Path) -> str:
    """The installed wheel's platform tag (its dist-info WHEEL file), e.g. manylinux_2_35_x86_64."""
    (wheel_file,) = site.glob("otlp_mmap-*.dist-info/WHEEL")
    tags = [line.split(":", 1)[1].strip() for line in wheel_file.read_text().splitlines() if line.startswith("Tag:")]
    return tags[0].split("-")[-1]


def system_libraries(tag: str) -> set[str]:
    """The libraries every system of manylinux policy `tag` provides (auditwheel's own list):
    auditwheel bundles everything else."""
    policies = json.loads((Path(auditwheel.__file__).parent / "policy" / "manylinux-policy.json").read_text())
    name = tag.removesuffix("_x86_64")
    (policy,) = [p for p in policies if p["name"] == name or name in p.get("aliases", [])]
    return set(policy["lib_whitelist"]) | LOADER


def foreign_libraries(binary: Path, inside: Path, system: set[str]) -> list[str]:
    """ldd lines of `binary` resolved neither inside `inside` nor to a library of `system`."""
    r = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"ldd {binary}: {r.stderr}")
    bad = []
    for line in r.stdout.splitlines():
        name = line.split()[0]
        target = line.split("=>")[1].split("(")[0].strip() if "=>" in line else name
        if "not found" in line:
            bad.append(line.strip())
        elif not Path(target).resolve().is_relative_to(inside.resolve()) and Path(name).name not in system:
            bad.append(line.strip())
    return bad


def check_bundled_libraries(inst: Installed) -> None:
    pkg = inst.package_dir()
    site = pkg.parent
    tag = platform_tag(site)
    check(tag.startswith("manylinux_"), f"not a manylinux wheel: {tag}")
    system = system_libraries(tag)
    binaries = [pkg / "_bin" / "otlp-mmap", *pkg.glob("_native*.so")]
    for b in binaries:
        check(b.is_file(), f"missing: {b}")
        bad = foreign_libraries(b, site, system)
        check(not bad, f"{b.name} needs libraries from the system beyond {tag}'s:\n  " + "\n  ".join(bad))
    libs = sorted(p.name for p in (site / "otlp_mmap.libs").glob("*.so*"))
    print(f"  libraries: the collector and _native resolve only to otlp_mmap.libs ({len(libs)} bundled) "
          f"and {tag}'s system libraries: ok")


def check_inspect(inst: Installed, path: Path) -> None:
    r = inst.run([inst.cli, "inspect", "--json", path])
    check(r.returncode == 0, f"otlp-mmap inspect failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    doc = json.loads(r.stdout)
    unread = {ring: doc["rings"][ring]["unread"] for ring in ("events", "spans", "measurements")}
    check(all(n > 0 for n in unread.values()), f"inspect: rings without records: {unread}")
    check("wheel-check-span" in r.stdout, "inspect: the span's name is not in the readout")
    text = inst.run([inst.cli, "inspect", path])
    check(text.returncode == 0 and "unread records" in text.stdout, f"inspect (text) failed:\n{text.stderr}")
    print(f"  otlp-mmap inspect: unread records {unread}: ok")


@dataclass
class Case:
    name: str
    env: Callable[["Receivers"], dict[str, str]]


@dataclass
class Receivers:
    plain: otelcol.OtelCol
    tls: otelcol.OtelCol
    certs: Certs


class TlsOtelCol(otelcol.OtelCol):
    """The real Collector with both receivers on TLS, requiring a client certificate."""

    def __init__(self, certs: Certs, **kw):
        super().__init__(**kw)
        self.certs = certs

    def _config(self, out_file: Path) -> dict:
        config = super()._config(out_file)
        tls = {"cert_file": str(self.certs.server_cert), "key_file": str(self.certs.server_key),
               "client_ca_file": str(self.certs.ca)}
        for protocol in config["receivers"]["otlp"]["protocols"].values():
            protocol["tls"] = tls
        return config


def _mtls(r: Receivers) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(r.certs.ca),
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(r.certs.client_cert),
            "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(r.certs.client_key)}


CASES = [
    Case("grpc", lambda r: {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{r.plain.grpc_endpoint}"}),
    Case("grpc-gzip", lambda r: {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
                                 "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{r.plain.grpc_endpoint}"}),
    Case("http-protobuf", lambda r: {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                                     "OTEL_EXPORTER_OTLP_ENDPOINT": r.plain.http_endpoint}),
    Case("http-protobuf-gzip", lambda r: {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                                          "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
                                          "OTEL_EXPORTER_OTLP_ENDPOINT": r.plain.http_endpoint}),
    Case("http-json", lambda r: {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
                                 "OTEL_EXPORTER_OTLP_ENDPOINT": r.plain.http_endpoint}),
    Case("http-json-gzip", lambda r: {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
                                      "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
                                      "OTEL_EXPORTER_OTLP_ENDPOINT": r.plain.http_endpoint}),
    Case("grpc-mtls", lambda r: {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                                 "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://{r.tls.grpc_endpoint}", **_mtls(r)}),
    Case("https-mtls", lambda r: {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                                  "OTEL_EXPORTER_OTLP_ENDPOINT": r.tls.http_endpoint.replace("http:", "https:"),
                                  **_mtls(r)}),
]


def _received(col: otelcol.OtelCol, service: str) -> dict[str, int]:
    """Spans, metric data points' metrics and log records of `service` the Collector has."""
    counts = {}
    for top, key in (("resourceSpans", "spans"), ("resourceMetrics", "metrics"), ("resourceLogs", "logs")):
        counts[key] = sum(1 for resource, _, _ in col.items_with_context(top)
                          if otelcol.attributes(resource).get("service.name") == service)
    return counts


def run_case(inst: Installed, receivers: Receivers, case: Case) -> None:
    col = receivers.tls if "tls" in case.name else receivers.plain
    service = f"wheel-check-{case.name}"
    path = inst.work / f"{case.name}.otlp"
    inst.write(path, service)
    env = clean_env(SDK_MMAP_EXPORTER_FILE=str(path), OTEL_BSP_SCHEDULE_DELAY="100", OTEL_BLRP_SCHEDULE_DELAY="100",
                    OTEL_METRIC_EXPORT_INTERVAL="200", **case.env(receivers))
    started = time.monotonic()
    proc = subprocess.Popen([str(inst.cli), "collect", "--stats-interval", "0"], cwd=inst.work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        counts = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            counts = _received(col, service)
            if all(counts.values()):
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check(all(counts.values()), f"{case.name}: the Collector received {counts} (exit {proc.returncode}):\n{err}\n"
                                f"Collector log:\n{col.log_tail(limit=3000)}")
    check(proc.returncode == 0, f"{case.name}: otlp-mmap collect exited {proc.returncode}:\n{err}")
    print(f"  collect over {case.name}: the Collector received {counts} in "
          f"{time.monotonic() - started:.1f} s: ok")


def check_collector(inst: Installed) -> None:
    check_bundled_libraries(inst)
    r = inst.run([inst.cli, "--version"])
    check(r.returncode == 0 and "otlp-mmap" in r.stdout, f"otlp-mmap --version: {r.returncode} {r.stdout}{r.stderr}")
    print(f"  {r.stdout.strip()}: ok")
    path = inst.work / "inspect.otlp"
    inst.write(path, "wheel-check-inspect")
    print("  the SDK wrote spans, metrics and logs: ok")
    check_inspect(inst, path)
    certs = make_certs(inst.work / "certs")
    with otelcol.OtelCol(workdir=inst.work / "otelcol", debug_verbosity=None) as plain, \
            TlsOtelCol(certs, workdir=inst.work / "otelcol-tls", debug_verbosity=None) as tls:
        receivers = Receivers(plain, tls, certs)
        for case in CASES:
            run_case(inst, receivers, case)


def check_no_collector(inst: Installed, reason: str) -> None:
    path = inst.work / "sdk-only.otlp"
    inst.write(path, "wheel-check-sdk-only")
    print("  the SDK wrote spans, metrics and logs: ok")
    r = inst.run([inst.cli, "collect", "--file", path])
    check(r.returncode == 127, f"otlp-mmap without a collector exited {r.returncode}:\n{r.stdout}{r.stderr}")
    for words in ("has no collector", reason, "To get the collector", "OTLP_MMAP_WHEEL_COLLECTOR=ON"):
        check(words in r.stderr, f"otlp-mmap without a collector does not say {words!r}:\n{r.stderr}")
    print(f"  otlp-mmap explains the missing collector ({reason}) and exits 127: ok")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", required=True, type=Path)
    parser.add_argument("--no-collector", metavar="REASON", help="the package has no collector; REASON is missing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="otlp-mmap-wheel-check-") as work:
        inst = Installed(args.venv.resolve(), Path(work))
        try:
            check_import(inst)
            if args.no_collector:
                check_no_collector(inst, args.no_collector)
            else:
                check_collector(inst)
        except CheckError as e:
            print(f"wheel check FAILED: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
