"""A forked child (a gunicorn worker, say) keeps writing correctly, with its own process.pid."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, List

import pytest
from opentelemetry.metrics import CallbackOptions, Observation

from sdk_support import merge_spans

import otlp_mmap.sdk as sdk
from otlp_mmap import Reader

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_forked_child_writes_with_its_own_pid(path: str) -> None:
    tp = sdk.TracerProvider(path, shutdown_on_exit=False, service_name="forking")
    mp = sdk.MeterProvider(path, shutdown_on_exit=False, export_interval_millis=20)
    lp = sdk.LoggerProvider(path, shutdown_on_exit=False)
    tracer = tp.get_tracer("fork")
    meter = mp.get_meter("fork")
    counter = meter.create_counter("c")
    observed: List[int] = []

    def callback(options: CallbackOptions) -> List[Observation]:
        observed.append(os.getpid())
        return [Observation(os.getpid(), {"pid": os.getpid()})]

    meter.create_observable_gauge("g", [callback])
    handler = sdk.LoggingHandler(logger_provider=lp)
    log = logging.getLogger("tests.sdk.fork")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    with tracer.start_as_current_span("parent-before"):
        pass

    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            with tracer.start_as_current_span("child-span"):
                counter.add(1, {"who": "child"})
                log.info("from the child")
            deadline = time.monotonic() + 5
            while os.getpid() not in observed and time.monotonic() < deadline:
                time.sleep(0.01)  # the collection thread was restarted in the child
            status = 0 if os.getpid() in observed else 2
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    with tracer.start_as_current_span("parent-after"):
        counter.add(1, {"who": "parent"})
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    mp.shutdown()
    tp.shutdown()
    lp.shutdown()
    log.handlers[:] = []

    with Reader(path) as r:
        data = r.read_all()

        def pid_of_scope(scope_ref: int) -> int:
            return r.read_resource(r.read_scope(scope_ref)["resource_ref"])["attributes"]["process.pid"]

        spans = {s["name"]: s for s in merge_spans(data["spans"]).values()}
        assert pid_of_scope(spans["parent-before"]["scope_ref"]) == os.getpid()
        assert pid_of_scope(spans["parent-after"]["scope_ref"]) == os.getpid()
        assert pid_of_scope(spans["child-span"]["scope_ref"]) == pid
        assert spans["child-span"]["end"] is not None
        assert spans["child-span"]["span_id"] != spans["parent-after"]["span_id"]
        assert spans["child-span"]["trace_id"] != spans["parent-after"]["trace_id"]
        by_who = {}
        for m in data["measurements"]:
            stream = r.read_metric_stream(m["metric_ref"])
            if stream["name"] == "c":
                by_who[m["attributes"]["who"]] = pid_of_scope(stream["scope_ref"])
            else:
                assert pid_of_scope(stream["scope_ref"]) == m["value"]  # the gauge's own pid
        assert by_who == {"child": pid, "parent": os.getpid()}
        (event,) = [e for e in data["events"] if e["body"] == "from the child"]
        scope = r.read_scope(event["scope_ref"])
        assert r.read_resource(scope["resource_ref"])["attributes"]["process.pid"] == pid
        assert event["span_context"]["span_id"] == spans["child-span"]["span_id"]
    assert any(m["value"] == pid for m in data["measurements"])


def test_ids_differ_between_parent_and_child(tracer: Any) -> None:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_fd, tracer.start_span("x").get_span_context().span_id.to_bytes(8, "big"))
        finally:
            os._exit(0)
    mine = tracer.start_span("x").get_span_context().span_id.to_bytes(8, "big")
    os.waitpid(pid, 0)
    child = os.read(read_fd, 8)
    os.close(read_fd)
    os.close(write_fd)
    assert len(child) == 8 and child != mine
