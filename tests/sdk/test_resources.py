"""The resource: service.instance.id, resource detectors (OTEL_EXPERIMENTAL_RESOURCE_DETECTORS),
a provider's resource=."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from typing import Any, Dict

import pytest

import otlp_mmap.sdk as sdk
from otlp_mmap import Reader
from otlp_mmap.sdk import resources
from otlp_mmap.sdk.resources import build_resource_attributes


def file_resource(path: str) -> Dict[str, Any]:
    with Reader(path, read_only=True) as r:
        (m,) = r.peek("measurements", 10)
        scope = r.read_scope(r.read_metric_stream(m["metric_ref"])["scope_ref"])
        return r.read_resource(scope["resource_ref"])["attributes"]


def test_service_instance_id_is_a_uuid_stable_in_the_process() -> None:
    first = build_resource_attributes(environ={})["service.instance.id"]
    assert uuid.UUID(first).version == 4
    assert build_resource_attributes(environ={})["service.instance.id"] == first
    assert resources.service_instance_id() == first


def test_service_instance_id_in_the_file_and_shared_by_providers(path: str) -> None:
    mp = sdk.MeterProvider(path, shutdown_on_exit=False)
    tp = sdk.TracerProvider(path, shutdown_on_exit=False)
    mp.get_meter("m").create_counter("c").add(1)
    attrs = file_resource(path)
    assert attrs["service.instance.id"] == resources.service_instance_id()
    assert tp.resource.attributes["service.instance.id"] == attrs["service.instance.id"]
    mp.shutdown()
    tp.shutdown()


def test_service_instance_id_set_by_the_user_wins() -> None:
    env = {"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=pod-7"}
    assert build_resource_attributes(environ=env)["service.instance.id"] == "pod-7"
    assert build_resource_attributes(attributes={"service.instance.id": "x"}, environ={})["service.instance.id"] == "x"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_its_own_service_instance_id(path: str) -> None:
    mp = sdk.MeterProvider(path, shutdown_on_exit=False)
    parent_id = mp.resource.attributes["service.instance.id"]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover  (child)
        try:
            os.write(write, str(mp.resource.attributes["service.instance.id"]).encode())
        finally:
            os._exit(0)
    os.close(write)
    child_id = os.read(read, 100).decode()
    os.waitpid(pid, 0)
    assert uuid.UUID(child_id) and child_id != parent_id
    assert mp.resource.attributes["service.instance.id"] == parent_id
    mp.shutdown()


def test_detectors_from_the_environment() -> None:
    pytest.importorskip("opentelemetry.sdk.resources")
    env = {"OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "os,host,process", "OTEL_RESOURCE_ATTRIBUTES": "os.type=mine"}
    attrs = build_resource_attributes(environ=env)
    assert attrs["os.type"] == "mine"  # OTEL_RESOURCE_ATTRIBUTES (the otel detector) is applied last
    assert attrs["host.name"] and attrs["host.arch"]
    assert "os.version" in attrs
    assert attrs["process.executable.path"] == sys.executable
    assert attrs["process.parent_pid"] == os.getppid()
    assert attrs["service.instance.id"] == resources.service_instance_id()


def test_detectors_match_the_official_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    official = pytest.importorskip("opentelemetry.sdk.resources")
    monkeypatch.setenv("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "os,host")
    theirs = dict(official.Resource.create().attributes)
    ours = build_resource_attributes()
    for key in ("os.type", "os.version", "host.name", "host.arch"):
        assert ours[key] == theirs[key], key


def test_unknown_detector_is_one_warning(path: str, caplog: pytest.LogCaptureFixture) -> None:
    env = {"OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "no_such_detector,process"}
    with caplog.at_level(logging.DEBUG, logger="otlp_mmap.sdk"):
        a = build_resource_attributes(environ=env)
        b = build_resource_attributes(environ=env)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no_such_detector" in warnings[0].getMessage()
    assert a == b and "process.executable.name" in a


def test_unknown_detector_through_a_provider_never_raises(path: str, monkeypatch: Any, caplog: Any) -> None:
    monkeypatch.setenv("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "bogus_one")
    with caplog.at_level(logging.WARNING, logger="otlp_mmap.sdk"):
        mp = sdk.MeterProvider(path, shutdown_on_exit=False)
        tp = sdk.TracerProvider(path, shutdown_on_exit=False)
    assert [r.getMessage() for r in caplog.records if "bogus_one" in r.getMessage()].__len__() == 1
    assert not mp.disabled and not tp.disabled
    mp.shutdown()
    tp.shutdown()


def test_failing_detector_is_one_warning(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    class EntryPoint:
        name = "broken"

        def load(self) -> Any:
            class Broken:
                def detect(self) -> Any:
                    raise RuntimeError("metadata service down")

            return Broken

    monkeypatch.setattr(resources, "_entry_points", lambda name=None: [EntryPoint()])
    monkeypatch.setattr(resources, "_detected", {})
    env = {"OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "broken"}
    with caplog.at_level(logging.WARNING, logger="otlp_mmap.sdk"):
        attrs = build_resource_attributes(environ=env)
        build_resource_attributes(environ=env)
    assert [r for r in caplog.records if "metadata service down" in r.getMessage()].__len__() == 1
    assert attrs["service.name"] == "unknown_service"


def test_meter_provider_resource_argument(path: str) -> None:
    official = pytest.importorskip("opentelemetry.sdk.resources")
    resource = official.Resource({"service.name": "given", "k": 1}, "https://schema/1")
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, resource=resource)
    mp.get_meter("m").create_counter("c").add(1)
    assert file_resource(path) == {"service.name": "given", "k": 1}
    assert mp.resource.schema_url == "https://schema/1"
    mp.shutdown()


def test_tracer_and_logger_provider_resource_argument(path: str) -> None:
    official = pytest.importorskip("opentelemetry.sdk.resources")
    resource = official.Resource({"service.name": "given", "k": 2}, "https://schema/2")
    tp = sdk.TracerProvider(path, shutdown_on_exit=False, resource=resource)
    lp = sdk.LoggerProvider(path, shutdown_on_exit=False, resource=resource)
    tp.get_tracer("t").start_span("s").end()
    lp.get_logger("l").emit(body="hello")
    with Reader(path, read_only=True) as r:
        (start, _end) = r.peek("spans", 10)
        (event,) = r.peek("events", 10)
        for scope_ref in (start["scope_ref"], event["scope_ref"]):
            assert r.read_resource(r.read_scope(scope_ref)["resource_ref"])["attributes"] == {
                "service.name": "given", "k": 2}
    assert tp.resource.schema_url == "https://schema/2" and lp.resource.schema_url == "https://schema/2"
    tp.shutdown()
    lp.shutdown()


def test_our_resource_create_and_merge() -> None:
    r = sdk.Resource.create({"a": 1}).merge(sdk.Resource({"b": 2}))
    assert r.attributes["a"] == 1 and r.attributes["b"] == 2
    assert r.attributes["service.instance.id"] == resources.service_instance_id()
    assert sdk.Resource.get_empty().attributes == {}


def test_entry_point_provider_gets_detectors(tmp_path: Any) -> None:
    path = str(tmp_path / "t.mmap")
    env = dict(os.environ, SDK_MMAP_EXPORTER_FILE=path, OTEL_EXPERIMENTAL_RESOURCE_DETECTORS="process",
               OTEL_PYTHON_METER_PROVIDER="otlp_mmap")
    code = (
        "from opentelemetry import metrics\n"
        "metrics.get_meter('x').create_counter('c').add(1)\n"
        "print(metrics.get_meter_provider().resource.attributes['service.instance.id'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    attrs = file_resource(path)
    assert attrs["service.instance.id"] == out.stdout.strip()
    assert attrs["process.executable.path"] == sys.executable
