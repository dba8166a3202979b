#!/usr/bin/env python3
"""otlp-mmap in one page (`make demo`).

Writes a small workload through the native module, as an application would: a resource,
an instrumentation scope, spans (attributes, a rename, a link, an event, a status),
measurements of every aggregation kind, and log events with bodies of several kinds.
Then reads the file back, as a collector would, and prints what it decoded, the ring
states and the loss counters.

    python examples/core_demo.py [PATH]     # PATH: keep the file there (default: a temp dir)
"""

import os
import sys
import tempfile
import time

from otlp_mmap import CUMULATIVE, DELTA, Reader, Writer

SPAN_KINDS = ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
STATUS = ["UNSET", "OK", "ERROR"]
TEMPORALITY = {0: "UNSPECIFIED", DELTA: "DELTA", CUMULATIVE: "CUMULATIVE"}
SEVERITY = {0: "-", 5: "DEBUG", 9: "INFO", 13: "WARN", 17: "ERROR"}


def write_workload(w):
    """What an instrumented request handler would record."""
    now = time.time_ns()
    resource = w.create_resource(
        {"service.name": "checkout", "service.version": "1.4.2", "deployment.environment": "demo"}
    )
    scope = w.create_instrumentation_scope(resource, "otlp_mmap.demo", "0.1.0", {"demo": True})

    # --- spans: a server span with a client child
    trace = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    root, child = bytes.fromhex("00f067aa0ba902b7"), bytes.fromhex("b7ad6b7169203331")
    w.record_span_start(scope, trace, root, None, 1, "HTTP POST", 2, now, {"http.request.method": "POST"})
    w.record_span_name(scope, trace, root, "POST /checkout")
    w.record_span_start(
        scope, trace, child, root, 1, "SELECT orders", 3, now + 1_000_000,
        {"db.system": "postgresql", "db.statement": "SELECT * FROM orders WHERE id = $1", "db.rows": 3},
    )
    w.record_span_links(
        scope, trace, child,
        [{"trace_id": bytes.fromhex("0af7651916cd43dd8448eb211c80319c"), "span_id": bytes.fromhex("b9c7c989f97918e1"),
          "attributes": {"link.reason": "batched with"}}],
    )
    w.record_span_end(scope, trace, child, now + 4_000_000, (1, ""))
    w.record_span_attributes(scope, trace, root, {"http.response.status_code": 402, "retry.count": [1, 2]})
    w.record_span_event(
        scope, trace, root, "exception", now + 5_000_000,
        {"exception.type": "PaymentDeclined", "exception.message": "card expired"},
    )
    w.record_span_end(scope, trace, root, now + 6_500_000, (2, "payment declined"))

    # --- metrics: one stream per aggregation kind
    ctx = {"trace_id": trace, "span_id": root, "flags": 1}
    requests = w.create_metric_stream(
        scope, "http.server.requests", "Requests handled", "1",
        {"sum": {"aggregation_temporality": DELTA, "is_monotonic": True}},
    )
    in_flight = w.create_metric_stream(
        scope, "http.server.active_requests", "Requests in flight", "1",
        {"sum": {"aggregation_temporality": "DELTA", "is_monotonic": False}},
    )
    memory = w.create_metric_stream(scope, "process.memory.usage", "Resident memory", "By", {"gauge": {}})
    duration = w.create_metric_stream(
        scope, "http.server.duration", "Request duration", "ms",
        {"histogram": {"aggregation_temporality": DELTA, "bucket_boundaries": [5.0, 10.0, 25.0, 50.0, 100.0]}},
    )
    payload = w.create_metric_stream(
        scope, "http.server.request.size", "Request body size", "By",
        {"exp_histogram": {"aggregation_temporality": CUMULATIVE, "max_buckets": 160, "max_scale": 20}},
    )
    route = {"http.route": "/checkout", "http.request.method": "POST"}
    w.record_measurement(requests, route, now, 1)
    w.record_measurement(in_flight, route, now, 1)
    w.record_measurement(in_flight, route, now + 6_500_000, -1)
    w.record_measurement(memory, None, now, 48_234_496)
    w.record_measurement(duration, route, now + 6_500_000, 6.5, span_context=ctx)
    w.record_measurement(payload, route, now, 1_532.0)

    # --- log events with bodies of several kinds
    login = w.record_string("checkout.payment_declined")
    w.record_event(scope, ctx, login, now + 5_000_000, {"payment.provider": "acme"},
                   severity_number=13, severity_text="WARN", body="card expired for order 1234")
    w.record_event(scope, None, 0, now, {"component": "cart"}, severity_number=9, severity_text="INFO",
                   body={"cart": {"items": 3, "total": 59.97, "coupons": ["SPRING"]}, "guest": False})
    w.record_event(scope, None, 0, now, None, severity_number=5, body=b"\x89PNG\r\n")
    w.record_event(scope, None, 0, now, None, body=["free", "form", 42, None])
    return {"resource": resource, "scope": scope}


def fmt_value(v):
    if isinstance(v, str):
        return repr(v) if len(v) <= 60 else repr(v[:57] + "...")
    if isinstance(v, bytes):
        return f"bytes[{len(v)}]:{v[:8].hex()}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {fmt_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    return repr(v)


def fmt_attrs(attrs):
    return " ".join(f"{k}={fmt_value(v)}" for k, v in attrs.items()) if attrs else "-"


def print_rings(reader, title):
    print(f"\n{title}")
    for ring, s in reader.ring_states().items():
        print(f"  {ring:13} {s['num_buffers']:6} slots x {s['buffer_size']:4} B   "
              f"reader {s['reader_index']:4}  writer {s['writer_index']:4}  unread {s['unread']}")


def main():
    keep = len(sys.argv) > 1
    tmp = None if keep else tempfile.TemporaryDirectory(prefix="otlp-mmap-demo-")
    path = sys.argv[1] if keep else os.path.join(tmp.name, "demo.mmap")

    # Small rings: the demo also shows what happens when nobody reads for a while.
    w = Writer(path, events_slots=8, spans_slots=64, measurements_slots=64, dictionary_initial_bytes=4096)
    refs = write_workload(w)
    print(f"otlp-mmap core demo: {path}")
    print(f"file geometry: " + ", ".join(f"{k} {g['num_buffers']}x{g['buffer_size']} B"
                                         for k, g in w.geometry.items() if isinstance(g, dict)))

    r = Reader(path)
    h = r.header()
    print(f"header: version {h['version']}, {h['file_size']} bytes, dictionary {h['dictionary_entries']} entries "
          f"({h['dictionary_end'] - h['dictionary_offset'] - 64} bytes)")
    print_rings(r, "ring states after writing:")

    res = r.read_resource(refs["resource"])
    scope = r.read_scope(refs["scope"])
    print(f"\nresource #{refs['resource']}: {fmt_attrs(res['attributes'])}")
    print(f"scope    #{refs['scope']}: {scope['name']} {scope['version']}  {fmt_attrs(scope['attributes'])}")

    data = r.read_all()
    print(f"\nspans ring: {len(data['spans'])} records")
    t0 = min(s["start_time_unix_nano"] for s in data["spans"] if s["type"] == "start")
    for s in data["spans"]:
        head = f"  {s['type']:10} span {s['span_id'].hex()}"
        if s["type"] == "start":
            parent = s["parent_span_id"].hex() or "(root)"
            print(f"{head} {s['name']!r} {SPAN_KINDS[s['kind']]} parent {parent} trace {s['trace_id'].hex()}")
            print(f"{'':14}attributes {fmt_attrs(s['attributes'])}")
        elif s["type"] == "end":
            st = s["status"]
            status = f"{STATUS[st['code']]} {st['message']!r}" if st else "-"
            print(f"{head} at +{(s['end_time_unix_nano'] - t0) / 1e6:.1f} ms, status {status}")
        elif s["type"] == "name":
            print(f"{head} renamed to {s['name']!r}")
        elif s["type"] == "attributes":
            print(f"{head} attributes {fmt_attrs(s['attributes'])}")
        elif s["type"] == "link":
            for link in s["links"]:
                print(f"{head} linked to {link['trace_id'].hex()}/{link['span_id'].hex()} "
                      f"{fmt_attrs(link['attributes'])}")
        elif s["type"] == "add_event":
            print(f"{head} event {s['name']!r} at +{(s['time_unix_nano'] - t0) / 1e6:.1f} ms "
                  f"{fmt_attrs(s['attributes'])}")

    print(f"\nmeasurements ring: {len(data['measurements'])} records")
    streams = {}
    for m in data["measurements"]:
        if m["metric_ref"] not in streams:
            streams[m["metric_ref"]] = r.read_metric_stream(m["metric_ref"])
        ms = streams[m["metric_ref"]]
        (kind, params), = ms["aggregation"].items()
        detail = ", ".join(TEMPORALITY[v] if k == "aggregation_temporality" else f"{k}={v}"
                           for k, v in params.items())
        linked = " (span " + m["span_context"]["span_id"].hex() + ")" if m["span_context"] else ""
        print(f"  {ms['name']:28} {fmt_value(m['value']):>10} {ms['unit']:3} {kind}({detail}){linked}")
        print(f"{'':31}{fmt_attrs(m['attributes'])}")

    print(f"\nevents ring: {len(data['events'])} records")
    for e in data["events"]:
        sev = SEVERITY.get(e["severity_number"], str(e["severity_number"]))
        name = f" {e['event_name']}" if e["event_name"] else ""
        ctx = f" (span {e['span_context']['span_id'].hex()})" if e["span_context"] else ""
        print(f"  {sev:5}{name}{ctx} body {fmt_value(e['body'])}  attributes {fmt_attrs(e['attributes'])}")

    # Nobody reads for a while: the 8-slot events ring fills, and writers drop instead of waiting.
    results = [w.record_event(refs["scope"], None, 0, time.time_ns(), {"i": i}, body="burst") for i in range(12)]
    print(f"\n12 more events with no reader draining: {results.count(True)} written, "
          f"{results.count(False)} dropped (record_* never blocks)")
    print_rings(r, "ring states now:")
    counters = r.writer_counters()
    print("\nwriter loss counters: " + ", ".join(f"{k}={v}" for k, v in counters.items()))
    rc = r.reader_counters()
    print("reader counters: " + ", ".join(f"{k} {v['records']} read/{v['torn']} torn/{v['corrupt']} corrupt"
                                          for k, v in rc.items() if isinstance(v, dict)))
    r.close()
    if tmp is not None:
        del w
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
