"""How the ring sizes were chosen: a burst of spans with no reader at all.

Writes BURST spans (start + end, 4 attributes each) as fast as Python can, with nothing
draining the file (a collector asleep), and prints how long the burst took and how many
records were dropped, for our default geometry and for the reference geometry.
Printed, never asserted: `make bench-python` runs it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from otlp_mmap import _native

BURST = 10_000
ATTRS = {"http.request.method": "GET", "http.route": "/users/{id}", "http.response.status_code": 200,
         "server.address": "api.internal"}
GEOMETRIES = {
    "ours (default)": {},
    "reference (1024 x 512)": dict(events_slots=1024, events_slot_size=512, spans_slots=1024, spans_slot_size=512,
                                   measurements_slots=1024, measurements_slot_size=512),
}


def burst(path: str, **geometry: int) -> tuple[float, int, int]:
    w = _native.Writer(path, **geometry)
    res = w.create_resource({"service.name": "burst"})
    scope = w.create_instrumentation_scope(res, "burst")
    trace = os.urandom(16)
    written = 0
    t0 = time.perf_counter()
    for i in range(BURST):
        span = (i + 1).to_bytes(8, "little")
        now = time.time_ns()
        written += w.record_span_start(scope, trace, span, None, 1, "GET /users/{id}", 2, now, ATTRS)
        written += w.record_span_end(scope, trace, span, now + 1000)
    elapsed = time.perf_counter() - t0
    dropped = w.counters()["dropped_full_spans"]
    return elapsed, written, dropped


def main() -> int:
    print(f"burst of {BURST} spans ({2 * BURST} records), no reader draining the file")
    for name, geometry in GEOMETRIES.items():
        with tempfile.TemporaryDirectory() as d:
            elapsed, written, dropped = burst(os.path.join(d, "burst.otlp"), **geometry)
        print(f"  {name:24s} {elapsed * 1e3:7.1f} ms  written {written:6d}  dropped {dropped:6d}"
              f"  ({elapsed / BURST * 1e6:.2f} us per span)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
