"""The default geometry holds a burst of 10,000 spans with no reader (docs/FORMAT.md §7)."""

from __future__ import annotations

import os
from pathlib import Path

from otlp_mmap import _native

ATTRS = {"http.request.method": "GET", "http.route": "/users/{id}", "http.response.status_code": 200,
         "server.address": "api.internal"}


def write_burst(w: _native.Writer, spans: int) -> int:
    res = w.create_resource({"service.name": "burst"})
    scope = w.create_instrumentation_scope(res, "burst")
    trace = os.urandom(16)
    written = 0
    for i in range(spans):
        span = (i + 1).to_bytes(8, "little")
        written += w.record_span_start(scope, trace, span, None, 1, "GET /users/{id}", 2, 1_000 + i, ATTRS)
        written += w.record_span_end(scope, trace, span, 2_000 + i)
    return written


def test_default_geometry_absorbs_a_10k_span_burst_without_a_reader(tmp_path: Path) -> None:
    w = _native.Writer(str(tmp_path / "t.otlp"))
    assert write_burst(w, 10_000) == 20_000
    assert w.counters()["dropped_full_spans"] == 0


def test_reference_geometry_drops_most_of_the_same_burst(tmp_path: Path) -> None:
    # The same burst into 1,024 span slots: what the larger default is for.
    w = _native.Writer(str(tmp_path / "t.otlp"), spans_slots=1024, spans_slot_size=512)
    assert write_burst(w, 10_000) == 1024
    assert w.counters()["dropped_full_spans"] == 20_000 - 1024
