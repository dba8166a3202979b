"""Interoperability with the protocol's reference implementation (docs/FORMAT.md, "Compatibility").

Each direction is checked against reference_style.py, an independent Python implementation
that does things the way the reference does:

1. files written the reference's way are read completely and exactly by our Reader;
2. files our Writer writes without extensions are read completely and exactly by a reader that
   follows the reference's algorithm and knows only the protocol's own schema.

The native module otlp_mmap._native must be built (make python). Without it the tests that
need it fail with a message saying so; they never skip.
"""

from __future__ import annotations

import os

import pytest

import reference_style as rs

TRACE_A = bytes(range(1, 17))
TRACE_B = bytes(range(101, 117))
SPAN_1 = bytes(range(1, 9))
SPAN_2 = bytes(range(11, 19))
SPAN_3 = bytes(range(21, 29))
T0 = 1_700_000_000_000_000_000

# The reference geometry: 1024 slots of 512 bytes per ring, 1 KiB dictionary.
REFERENCE_WRITER_ARGS = dict(events_slots=1024, events_slot_size=512, spans_slots=1024, spans_slot_size=512,
                             measurements_slots=1024, measurements_slot_size=512, dictionary_initial_bytes=1024)

# The reference's published offsets for that geometry (docs/FORMAT.md, "Default sizes").
REFERENCE_TABLE = {
    "events": (64, 96, 4192),
    "spans": (528480, 528512, 532608),
    "measurements": (1056896, 1056928, 1061024),
    "dictionary": 1585312,
    "first_entry": 1585376,
    "eof": 1586400,
}


@pytest.fixture
def native():
    try:
        from otlp_mmap import _native
    except ImportError as e:
        pytest.fail(f"otlp_mmap._native cannot be imported ({e}): build and install the Python module first "
                    f"(make python, i.e. scripts/build-python.sh)", pytrace=False)
    return _native


@pytest.fixture
def pb():
    return rs.load_reference_schema()


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "telemetry.mmap")


# ---------------------------------------------------------------- decoding helpers
# Turn protobuf messages read by the reference-style reader into the plain values our
# Reader returns (keys resolved to strings, AnyValue as Python values), so both sides
# can be compared with ==.

def any_to_py(av, rd):
    which = av.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_to_py(x, rd) for x in av.array_value.values]
    if which == "kvlist_value":
        return attrs_to_py(av.kvlist_value.values, rd)
    if which == "value_ref":
        return any_to_py(rd.read_any_value(av.value_ref), rd)
    return getattr(av, which)


def attrs_to_py(kvs, rd):
    return {rd.read_string(kv.key_ref): any_to_py(kv.value, rd) for kv in kvs}


def span_context_to_py(msg, field):
    if not msg.HasField(field):
        return None
    sc = getattr(msg, field)
    return {"trace_id": sc.trace_id, "span_id": sc.span_id, "flags": sc.flags}


def event_to_py(e, rd):
    return {
        "scope_ref": e.scope_ref,
        "time_unix_nano": e.time_unix_nano,
        "severity_number": e.severity_number,
        "severity_text": e.severity_text,
        "body": any_to_py(e.body, rd) if e.HasField("body") else None,
        "event_name_ref": e.event_name_ref,
        "event_name": rd.read_string(e.event_name_ref),
        "span_context": span_context_to_py(e, "span_context"),
        "attributes": attrs_to_py(e.attributes, rd),
    }


def measurement_to_py(m, rd):
    out = {
        "metric_ref": m.metric_ref,
        "time_unix_nano": m.time_unix_nano,
        "attributes": attrs_to_py(m.attributes, rd),
        "span_context": span_context_to_py(m, "span_context"),
    }
    which = m.WhichOneof("value")
    out["value"] = None if which is None else getattr(m, which)
    if which is not None:
        out[which] = getattr(m, which)
    return out


def span_event_to_py(s, rd):
    which = s.WhichOneof("event")
    out = {"type": which, "trace_id": s.trace_id, "span_id": s.span_id, "scope_ref": s.scope_ref}
    if which == "start":
        st = s.start
        out.update(parent_span_id=st.parent_span_id, name=st.name, kind=st.kind,
                   start_time_unix_nano=st.start_time_unix_nano, attributes=attrs_to_py(st.attributes, rd),
                   flags=st.flags)
    elif which == "end":
        out["end_time_unix_nano"] = s.end.end_time_unix_nano
        out["status"] = ({"code": s.end.status.code, "message": s.end.status.message}
                         if s.end.HasField("status") else None)
    elif which == "name":
        out["name"] = s.name.name
    elif which == "attributes":
        out["attributes"] = attrs_to_py(s.attributes.attributes, rd)
    elif which == "link":
        out["links"] = [{"trace_id": l.trace_id, "span_id": l.span_id, "trace_state": l.trace_state,
                         "attributes": attrs_to_py(l.attributes, rd),
                         "dropped_attributes_count": l.dropped_attributes_count, "flags": l.flags}
                        for l in s.link.links]
    return out


def resource_to_py(r, rd):
    return {"attributes": attrs_to_py(r.attributes, rd), "dropped_attributes_count": r.dropped_attributes_count}


def scope_to_py(s, rd):
    return {"name": rd.read_string(s.name_ref), "version": rd.read_string(s.version_ref) if s.version_ref else None,
            "attributes": attrs_to_py(s.attributes, rd), "dropped_attributes_count": s.dropped_attributes_count,
            "resource_ref": s.resource_ref}


def metric_to_py(m):
    which = m.WhichOneof("aggregation")
    agg = None
    if which == "gauge":
        agg = {"gauge": {}}
    elif which == "sum":
        agg = {"sum": {"aggregation_temporality": m.sum.aggregation_temporality, "is_monotonic": m.sum.is_monotonic}}
    elif which == "histogram":
        agg = {"histogram": {"aggregation_temporality": m.histogram.aggregation_temporality,
                             "bucket_boundaries": list(m.histogram.bucket_boundaries)}}
    elif which == "exp_hist":
        agg = {"exp_histogram": {"aggregation_temporality": m.exp_hist.aggregation_temporality,
                                 "max_buckets": m.exp_hist.max_buckets, "max_scale": m.exp_hist.max_scale}}
    return {"name": m.name, "description": m.description, "unit": m.unit, "scope_ref": m.instrumentation_scope_ref,
            "aggregation": agg}


def assert_has(got, want, what):
    """Every key of `want` is in `got` with an equal value (our Reader may return more keys)."""
    assert isinstance(got, dict), f"{what}: expected a dict, got {got!r}"
    missing = [k for k in want if k not in got]
    assert not missing, f"{what}: keys {missing} missing from {got!r}"
    diff = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert not diff, f"{what}: (ours, expected) differ: {diff}"


def assert_records(got, want, what):
    assert len(got) == len(want), f"{what}: read {len(got)} records, expected {len(want)}: {got!r}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert_has(g, w, f"{what}[{i}]")


def drain(read):
    out = []
    while (r := read()) is not None:
        out.append(r)
    return out


# ---------------------------------------------------------------- the schema and the formula

PROTOCOL_FIELD_NUMBERS = {
    "Event": {"scope_ref": 1, "time_unix_nano": 2, "severity_number": 3, "severity_text": 4, "body": 5,
              "event_name_ref": 6, "span_context": 7, "attributes": 8},
    "Measurement": {"metric_ref": 1, "attributes": 2, "time_unix_nano": 3, "as_long": 4, "as_double": 5,
                    "span_context": 6},
    "SpanContext": {"span_id": 1, "trace_id": 2, "flags": 3},
    "SpanEvent": {"trace_id": 1, "span_id": 2, "scope_ref": 20, "start": 11, "end": 12, "name": 13,
                  "attributes": 14, "link": 15},
    "SpanEvent.StartSpan": {"parent_span_id": 4, "name": 5, "kind": 6, "start_time_unix_nano": 7, "attributes": 9,
                            "flags": 16},
    "SpanEvent.EndSpan": {"end_time_unix_nano": 8, "status": 15},
    "SpanEvent.ChangeSpanName": {"name": 5},
    "SpanEvent.UpdateAttributes": {"attributes": 9},
    "SpanEvent.AddLink": {"links": 13},
    "SpanEvent.Link": {"trace_id": 1, "span_id": 2, "trace_state": 3, "attributes": 4,
                       "dropped_attributes_count": 5, "flags": 6},
    "Status": {"message": 2, "code": 3},
    "MetricRef": {"name": 1, "description": 2, "unit": 3, "instrumentation_scope_ref": 4, "gauge": 5, "sum": 6,
                  "histogram": 7, "exp_hist": 8},
    "MetricRef.Sum": {"aggregation_temporality": 2, "is_monotonic": 3},
    "MetricRef.Histogram": {"aggregation_temporality": 1, "bucket_boundaries": 2},
    "MetricRef.ExponentialHistogram": {"aggregation_temporality": 1, "max_buckets": 2, "max_scale": 3},
    "Resource": {"attributes": 1, "dropped_attributes_count": 2},
    "InstrumentationScope": {"name_ref": 1, "version_ref": 2, "attributes": 3, "dropped_attributes_count": 4,
                             "resource_ref": 5},
    "KeyValueRef": {"key_ref": 1, "value": 2},
    "AnyValue": {"string_value": 1, "bool_value": 2, "int_value": 3, "double_value": 4, "array_value": 5,
                 "kvlist_value": 6, "bytes_value": 7, "value_ref": 8},
    "ArrayValue": {"values": 1},
    "KeyValueList": {"values": 1},
}


def test_schema_without_extensions_is_the_protocols(pb):
    for name, fields in PROTOCOL_FIELD_NUMBERS.items():
        desc = pb.DESCRIPTOR.message_types_by_name[name.split(".")[0]]
        for part in name.split(".")[1:]:
            desc = desc.nested_types_by_name[part]
        got = {f.name: f.number for f in desc.fields}
        assert got == fields, f"{name}: {got} != protocol {fields}"
    assert pb.SpanEvent.StartSpan.DESCRIPTOR.fields_by_name["flags"].type == 7  # TYPE_FIXED32
    assert pb.Event.DESCRIPTOR.fields_by_name["time_unix_nano"].type == 6  # TYPE_FIXED64


def test_layout_formula_gives_the_reference_offsets(path):
    offs = rs.layout_offsets()
    for ring in rs.RINGS:
        r = offs[ring]
        assert (r["header"], r["availability"], r["slots"]) == REFERENCE_TABLE[ring]
    assert offs["dictionary"] == REFERENCE_TABLE["dictionary"]
    assert offs["first_entry"] == REFERENCE_TABLE["first_entry"]
    assert offs["eof"] == REFERENCE_TABLE["eof"]
    w = rs.ReferenceStyleWriter(path)
    w.close()
    assert os.path.getsize(path) == REFERENCE_TABLE["eof"]


# ---------------------------------------------------------------- 1. reference-style file, our reader

def write_reference_workload(w, pb):
    """Strings, a resource, a scope, four metric streams, two spans with every span step,
    events and measurements, written the reference's way. Returns the refs."""
    s = w.write_string
    refs = {name: s(name) for name in [
        "service.name", "host.cores", "checkout", "lib.attr", "http.method", "http.status_code", "ratio",
        "payload", "tags", "nested", "inner", "order.id", "from.dictionary", "naïve ✓ ключ"]}
    refs["empty"] = s("")  # the reference writes "" as a real entry
    refs["scope_name"] = s("shop.instrumentation")
    refs["scope_version"] = s("1.2.3")
    refs["event_name"] = s("order.placed")

    def kv(key, **value):
        return pb.KeyValueRef(key_ref=refs[key], value=pb.AnyValue(**value))

    refs["any_value"] = w.write_message(pb.AnyValue(string_value="stored once, used by reference"))
    refs["resource"] = w.write_message(pb.Resource(attributes=[kv("service.name", string_value="checkout"),
                                                               kv("host.cores", int_value=8)]))
    refs["scope"] = w.write_message(pb.InstrumentationScope(
        name_ref=refs["scope_name"], version_ref=refs["scope_version"], attributes=[kv("lib.attr", bool_value=True)],
        resource_ref=refs["resource"]))
    refs["scope_no_version"] = w.write_message(pb.InstrumentationScope(name_ref=refs["scope_name"],
                                                                       resource_ref=refs["resource"]))
    M = pb.MetricRef
    refs["m_sum"] = w.write_message(M(name="requests", description="Requests served", unit="1",
                                      instrumentation_scope_ref=refs["scope"],
                                      sum=M.Sum(aggregation_temporality=1, is_monotonic=True)))
    refs["m_gauge"] = w.write_message(M(name="queue.depth", unit="{item}", instrumentation_scope_ref=refs["scope"],
                                        gauge=M.Gauge()))
    refs["m_hist"] = w.write_message(M(name="latency", unit="ms", instrumentation_scope_ref=refs["scope"],
                                       histogram=M.Histogram(aggregation_temporality=1,
                                                             bucket_boundaries=[0.0, 5.0, 10.0, 2.5e3])))
    refs["m_exp"] = w.write_message(M(name="size", unit="By", instrumentation_scope_ref=refs["scope"],
                                      exp_hist=M.ExponentialHistogram(aggregation_temporality=2, max_buckets=160,
                                                                      max_scale=20)))

    attrs = [kv("http.method", string_value="GET"), kv("http.status_code", int_value=-200),
             kv("ratio", double_value=0.25), kv("payload", bytes_value=b"\x00\x01\xff"),
             kv("tags", array_value=pb.ArrayValue(values=[pb.AnyValue(string_value="a"),
                                                          pb.AnyValue(int_value=2)])),
             kv("nested", kvlist_value=pb.KeyValueList(values=[kv("inner", bool_value=False)])),
             kv("from.dictionary", value_ref=refs["any_value"]),
             kv("naïve ✓ ключ", string_value="значение ✓")]
    SE = pb.SpanEvent
    spans = [
        SE(trace_id=TRACE_A, span_id=SPAN_1, scope_ref=refs["scope"],
           start=SE.StartSpan(name="GET /orders", kind=2, start_time_unix_nano=T0, attributes=attrs, flags=1)),
        SE(trace_id=TRACE_A, span_id=SPAN_2, scope_ref=refs["scope"],
           start=SE.StartSpan(parent_span_id=SPAN_1, name="db.query", kind=3, start_time_unix_nano=T0 + 10)),
        SE(trace_id=TRACE_A, span_id=SPAN_2, scope_ref=refs["scope"], name=SE.ChangeSpanName(name="SELECT orders")),
        SE(trace_id=TRACE_A, span_id=SPAN_2, scope_ref=refs["scope"],
           attributes=SE.UpdateAttributes(attributes=[kv("order.id", int_value=42)])),
        SE(trace_id=TRACE_A, span_id=SPAN_2, scope_ref=refs["scope"],
           link=SE.AddLink(links=[SE.Link(trace_id=TRACE_B, span_id=SPAN_3, trace_state="k=v",
                                          attributes=[kv("order.id", int_value=7)], dropped_attributes_count=1,
                                          flags=1)])),
        SE(trace_id=TRACE_A, span_id=SPAN_2, scope_ref=refs["scope"],
           end=SE.EndSpan(end_time_unix_nano=T0 + 20, status=pb.Status(code=1))),
        SE(trace_id=TRACE_A, span_id=SPAN_1, scope_ref=refs["scope"],
           end=SE.EndSpan(end_time_unix_nano=T0 + 30, status=pb.Status(code=2, message="boom ✗"))),
        SE(trace_id=TRACE_B, span_id=SPAN_3, scope_ref=refs["scope_no_version"],
           start=SE.StartSpan(name="", kind=0, start_time_unix_nano=T0 + 40)),
        SE(trace_id=TRACE_B, span_id=SPAN_3, scope_ref=refs["scope_no_version"],
           end=SE.EndSpan(end_time_unix_nano=T0 + 50)),
    ]
    events = [
        pb.Event(scope_ref=refs["scope"], time_unix_nano=T0 + 1, severity_number=9, severity_text="INFO",
                 body=pb.AnyValue(string_value="order placed"), event_name_ref=refs["event_name"],
                 span_context=pb.SpanContext(trace_id=TRACE_A, span_id=SPAN_1, flags=1), attributes=attrs[:4]),
        pb.Event(scope_ref=refs["scope"], time_unix_nano=T0 + 2, severity_number=17,
                 body=pb.AnyValue(kvlist_value=pb.KeyValueList(values=[kv("order.id", int_value=1)]))),
        pb.Event(scope_ref=refs["scope"], time_unix_nano=T0 + 3, event_name_ref=refs["empty"]),
    ]
    measurements = [
        pb.Measurement(metric_ref=refs["m_sum"], time_unix_nano=T0 + 4, as_long=3,
                       attributes=[kv("http.method", string_value="GET")]),
        pb.Measurement(metric_ref=refs["m_sum"], time_unix_nano=T0 + 5, as_long=0),
        pb.Measurement(metric_ref=refs["m_gauge"], time_unix_nano=T0 + 6, as_long=-3,
                       span_context=pb.SpanContext(trace_id=TRACE_A, span_id=SPAN_2)),
        pb.Measurement(metric_ref=refs["m_hist"], time_unix_nano=T0 + 7, as_double=12.5),
        pb.Measurement(metric_ref=refs["m_exp"], time_unix_nano=T0 + 8, as_double=-0.0),
    ]
    for m in spans:
        w.write("spans", m)
    for m in events:
        w.write("events", m)
    for m in measurements:
        w.write("measurements", m)
    return refs, spans, events, measurements


def test_our_reader_reads_a_reference_style_file(native, pb, path):
    w = rs.ReferenceStyleWriter(path)
    refs, spans, events, measurements = write_reference_workload(w, pb)
    rd = rs.ReferenceStyleReader(path)  # resolves the expected values; consumes nothing

    with native.Reader(path) as ours:
        header = ours.header()
        assert_has(header, {"version": 1, "events_offset": 64, "spans_offset": 528480,
                            "measurements_offset": 1056896, "dictionary_offset": 1585312,
                            "start_time_unix_nano": w.f.u64(rs.H_START_TIME)}, "header")

        for name in ["service.name", "naïve ✓ ключ", "scope_name", "event_name"]:
            assert ours.read_string(refs[name]) == rd.read_string(refs[name])
        assert ours.read_string(refs["empty"]) == ""
        assert ours.read_string(0) == ""
        assert_has(ours.read_resource(refs["resource"]), resource_to_py(rd.read_resource(refs["resource"]), rd),
                   "resource")
        for key in ["scope", "scope_no_version"]:
            assert_has(ours.read_scope(refs[key]), scope_to_py(rd.read_scope(refs[key]), rd), key)
        for key in ["m_sum", "m_gauge", "m_hist", "m_exp"]:
            assert_has(ours.read_metric_stream(refs[key]), metric_to_py(rd.read_metric(refs[key])), key)

        assert_records(drain(ours.read_span_event), [span_event_to_py(m, rd) for m in spans], "spans")
        assert_records(drain(ours.read_event), [event_to_py(m, rd) for m in events], "events")
        assert_records(drain(ours.read_measurement), [measurement_to_py(m, rd) for m in measurements],
                       "measurements")

        states = ours.ring_states()
        for ring, n in [("events", len(events)), ("spans", len(spans)), ("measurements", len(measurements))]:
            assert_has(states[ring], {"num_buffers": 1024, "buffer_size": 512, "reader_index": n - 1,
                                      "writer_index": n - 1}, ring)
        assert_has(ours.header(), {"reader_skipped_torn": 0, "reader_skipped_corrupt": 0}, "header after reading")

    # What our reader consumed is consumed for the reference-style side too.
    assert rd.try_read("spans") is None and rd.try_read("events") is None and rd.try_read("measurements") is None


def test_our_reader_follows_a_reference_ring_through_many_laps(native, pb, path):
    """The reference writer stops at N-1 unread records; our reader keeps up lap after lap."""
    w = rs.ReferenceStyleWriter(path)
    key = w.write_string("seq")
    seq = 0
    with native.Reader(path) as ours:
        for lap in range(5):
            written = 0
            while w.try_write("measurements", pb.Measurement(
                    metric_ref=key, time_unix_nano=seq + written, as_long=seq + written,
                    attributes=[pb.KeyValueRef(key_ref=key, value=pb.AnyValue(int_value=lap))])):
                written += 1
            assert written == 1023, "the reference-style writer holds N-1 unread records"
            got = drain(ours.read_measurement)
            assert [m["as_long"] for m in got] == list(range(seq, seq + written))
            assert all(m["attributes"] == {"seq": lap} for m in got)
            seq += written
        assert_has(ours.ring_states()["measurements"], {"reader_index": seq - 1, "writer_index": seq - 1},
                   "measurements ring")


@pytest.mark.parametrize("flag", [rs.flag_shift_first, rs.flag_truncate_first], ids=["protocol-text", "rust-core"])
def test_our_reader_accepts_both_availability_flags_past_2_32(native, pb, path, flag):
    """Sequences cross 2^32, where the two ways of computing the lap number disagree."""
    start = (1 << 32) - 5
    w = rs.ReferenceStyleWriter(path, flag=flag, start_sequence=start)
    key = w.write_string("k")
    for i in range(10):
        w.write("events", pb.Event(scope_ref=key, time_unix_nano=i, severity_number=9))
    with native.Reader(path) as ours:
        got = drain(ours.read_event)
        assert [e["time_unix_nano"] for e in got] == list(range(10))
        assert_has(ours.ring_states()["events"], {"reader_index": start + 10, "writer_index": start + 10}, "events")
        assert_has(ours.header(), {"reader_skipped_torn": 0, "reader_skipped_corrupt": 0}, "header")


def test_our_writer_adopts_a_reference_style_file(native, pb, path):
    """Unread records, the start time and the dictionary of an existing file are kept."""
    w = rs.ReferenceStyleWriter(path)
    key = w.write_string("phase")
    for i in range(3):
        w.write("measurements", pb.Measurement(metric_ref=key, time_unix_nano=i, as_long=i))
    start_time = w.f.u64(rs.H_START_TIME)
    dict_end = w.f.i64(w.dictionary + rs.D_END)
    w.close()

    ours = native.Writer(path, **REFERENCE_WRITER_ARGS)
    assert ours.geometry["created_file"] is False
    new_key = ours.record_string("after.adoption")
    assert new_key >= dict_end
    for i in range(3, 5):
        assert ours.record_measurement(key, {}, i, i) is True

    rd = rs.ReferenceStyleReader(path)
    assert rd.start_time_unix_nano == start_time
    got = rd.drain("measurements")
    assert [(m.time_unix_nano, m.as_long) for m in got] == [(i, i) for i in range(5)]
    assert rd.read_string(key) == "phase" and rd.read_string(new_key) == "after.adoption"


# ---------------------------------------------------------------- 2. our file, reference-style reader

def test_our_header_is_the_reference_layout(native, path):
    ours = native.Writer(path, **REFERENCE_WRITER_ARGS)
    assert ours.geometry["created_file"] is True
    assert os.path.getsize(path) == REFERENCE_TABLE["eof"]
    rd = rs.ReferenceStyleReader(path)
    h = rd.header()
    assert h["version"] == 1
    assert h["start_time_unix_nano"] > 0
    assert h["unused"] == bytes(16), "bytes 48..63 hold our reader counters, zero in a new file"
    for ring in rs.RINGS:
        header, availability, slots = REFERENCE_TABLE[ring]
        assert h[ring] == header
        assert rd.rings[ring].slot(0) == slots
        assert header + rs.RING_HEADER_SIZE == availability
        rh = rd.ring_header(ring)
        assert (rh["num_buffers"], rh["buffer_size"], rh["reader_index"], rh["writer_index"]) == (1024, 512, -1, -1)
        assert set(rh["availability"]) == {-1}
    assert h["dictionary"] == REFERENCE_TABLE["dictionary"]
    assert rd.dictionary_header() == {"end": REFERENCE_TABLE["first_entry"], "num_entries": 0}
    raw = bytes(rd.f.mm[REFERENCE_TABLE["dictionary"] + 16:REFERENCE_TABLE["dictionary"] + 64])
    assert raw == bytes(48), "the dictionary's extension counters start at zero"
    with native.Reader(path) as reader:
        assert_has(reader.header(), {"events_offset": 64, "spans_offset": 528480, "measurements_offset": 1056896,
                                     "dictionary_offset": 1585312}, "our reader's view of the header")


def test_reference_reader_reads_our_file(native, pb, path):
    ours = native.Writer(path, **REFERENCE_WRITER_ARGS)
    resource = ours.create_resource({"service.name": "checkout", "host.cores": 8, "deployment.canary": False})
    scope = ours.create_instrumentation_scope(resource, "shop.instrumentation", "1.2.3", {"lib.attr": True})
    scope_plain = ours.create_instrumentation_scope(resource, "plain")
    metrics = {
        "requests": ours.create_metric_stream(scope, "requests", "Requests served", "1",
                                              {"sum": {"aggregation_temporality": 1, "is_monotonic": True}}),
        "in_flight": ours.create_metric_stream(scope, "in_flight", "", "{request}",
                                               {"sum": {"aggregation_temporality": 2, "is_monotonic": False}}),
        "depth": ours.create_metric_stream(scope, "queue.depth", "Items waiting", "{item}", {"gauge": {}}),
        "latency": ours.create_metric_stream(scope, "latency", "", "ms",
                                             {"histogram": {"aggregation_temporality": 1,
                                                            "bucket_boundaries": [0.0, 5.0, 10.0, 2500.0]}}),
        "size": ours.create_metric_stream(scope, "size", "", "By",
                                          {"exp_histogram": {"aggregation_temporality": 2, "max_buckets": 160,
                                                             "max_scale": 20}}),
    }
    event_name = ours.record_string("order.placed")
    attrs = {"http.method": "GET", "http.status_code": 200, "ratio": 0.25, "payload": b"\x00\xff",
             "retry": False, "tags": ["a", "b"], "naïve ✓ ключ": "значение ✓"}
    ctx = {"trace_id": TRACE_A, "span_id": SPAN_1, "flags": 1}

    assert ours.record_span_start(scope, TRACE_A, SPAN_1, None, 1, "GET /orders", 2, T0, attrs) is True
    assert ours.record_span_start(scope, TRACE_A, SPAN_2, SPAN_1, 1, "db.query", 3, T0 + 10, {}) is True
    assert ours.record_span_name(scope, TRACE_A, SPAN_2, "SELECT orders") is True
    assert ours.record_span_attributes(scope, TRACE_A, SPAN_2, {"order.id": 42}) is True
    assert ours.record_span_links(scope, TRACE_A, SPAN_2, [
        {"trace_id": TRACE_B, "span_id": SPAN_3, "trace_state": "k=v", "attributes": {"order.id": 7},
         "flags": 1}]) is True
    assert ours.record_span_end(scope, TRACE_A, SPAN_2, T0 + 20, (1, "")) is True
    assert ours.record_span_end(scope, TRACE_A, SPAN_1, T0 + 30, {"code": 2, "message": "boom ✗"}) is True
    assert ours.record_span_start(scope_plain, TRACE_B, SPAN_3, b"", 0, "root", 0, T0 + 40, {}) is True
    assert ours.record_span_end(scope_plain, TRACE_B, SPAN_3, T0 + 50) is True
    assert ours.record_event(scope, ctx, event_name, T0 + 1, {"order.id": 1}, severity_number=9,
                             severity_text="INFO", body="order placed") is True
    assert ours.record_event(scope, None, 0, T0 + 2, {}, severity_number=17,
                             body={"items": [1, 2], "note": "nested ✓"}) is True
    assert ours.record_measurement(metrics["requests"], {"http.method": "GET"}, T0 + 3, 3) is True
    assert ours.record_measurement(metrics["in_flight"], {}, T0 + 4, 0) is True
    assert ours.record_measurement(metrics["depth"], {"queue": "q1"}, T0 + 5, -3, ctx) is True
    assert ours.record_measurement(metrics["latency"], {}, T0 + 6, 12.5) is True
    assert ours.record_measurement(metrics["size"], {}, T0 + 7, 1024.0) is True

    rd = rs.ReferenceStyleReader(path)
    unknown = []

    def check(msg):
        unknown.extend(rs.unknown_fields(msg))
        return msg

    assert resource_to_py(check(rd.read_resource(resource)), rd) == {
        "attributes": {"service.name": "checkout", "host.cores": 8, "deployment.canary": False},
        "dropped_attributes_count": 0}
    assert scope_to_py(check(rd.read_scope(scope)), rd) == {
        "name": "shop.instrumentation", "version": "1.2.3", "attributes": {"lib.attr": True},
        "dropped_attributes_count": 0, "resource_ref": resource}
    assert scope_to_py(check(rd.read_scope(scope_plain)), rd) == {
        "name": "plain", "version": None, "attributes": {}, "dropped_attributes_count": 0, "resource_ref": resource}
    expected_metrics = {
        "requests": ("requests", "Requests served", "1",
                     {"sum": {"aggregation_temporality": 1, "is_monotonic": True}}),
        "in_flight": ("in_flight", "", "{request}", {"sum": {"aggregation_temporality": 2, "is_monotonic": False}}),
        "depth": ("queue.depth", "Items waiting", "{item}", {"gauge": {}}),
        "latency": ("latency", "", "ms", {"histogram": {"aggregation_temporality": 1,
                                                        "bucket_boundaries": [0.0, 5.0, 10.0, 2500.0]}}),
        "size": ("size", "", "By", {"exp_histogram": {"aggregation_temporality": 2, "max_buckets": 160,
                                                      "max_scale": 20}}),
    }
    for key, (name, desc, unit, agg) in expected_metrics.items():
        assert metric_to_py(check(rd.read_metric(metrics[key]))) == {
            "name": name, "description": desc, "unit": unit, "scope_ref": scope, "aggregation": agg}, key

    spans = [span_event_to_py(check(m), rd) for m in rd.drain("spans")]
    common = {"trace_id": TRACE_A, "scope_ref": scope}
    assert spans == [
        {**common, "type": "start", "span_id": SPAN_1, "parent_span_id": b"", "name": "GET /orders", "kind": 2,
         "start_time_unix_nano": T0, "attributes": attrs, "flags": 1},
        {**common, "type": "start", "span_id": SPAN_2, "parent_span_id": SPAN_1, "name": "db.query", "kind": 3,
         "start_time_unix_nano": T0 + 10, "attributes": {}, "flags": 1},
        {**common, "type": "name", "span_id": SPAN_2, "name": "SELECT orders"},
        {**common, "type": "attributes", "span_id": SPAN_2, "attributes": {"order.id": 42}},
        {**common, "type": "link", "span_id": SPAN_2, "links": [
            {"trace_id": TRACE_B, "span_id": SPAN_3, "trace_state": "k=v", "attributes": {"order.id": 7},
             "dropped_attributes_count": 0, "flags": 1}]},
        {**common, "type": "end", "span_id": SPAN_2, "end_time_unix_nano": T0 + 20,
         "status": {"code": 1, "message": ""}},
        {**common, "type": "end", "span_id": SPAN_1, "end_time_unix_nano": T0 + 30,
         "status": {"code": 2, "message": "boom ✗"}},
        {"trace_id": TRACE_B, "scope_ref": scope_plain, "type": "start", "span_id": SPAN_3, "parent_span_id": b"",
         "name": "root", "kind": 0, "start_time_unix_nano": T0 + 40, "attributes": {}, "flags": 0},
        {"trace_id": TRACE_B, "scope_ref": scope_plain, "type": "end", "span_id": SPAN_3,
         "end_time_unix_nano": T0 + 50, "status": None},
    ]

    events = [event_to_py(check(m), rd) for m in rd.drain("events")]
    assert events == [
        {"scope_ref": scope, "time_unix_nano": T0 + 1, "severity_number": 9, "severity_text": "INFO",
         "body": "order placed", "event_name_ref": event_name, "event_name": "order.placed",
         "span_context": ctx, "attributes": {"order.id": 1}},
        {"scope_ref": scope, "time_unix_nano": T0 + 2, "severity_number": 17, "severity_text": "",
         "body": {"items": [1, 2], "note": "nested ✓"}, "event_name_ref": 0, "event_name": "",
         "span_context": None, "attributes": {}},
    ]

    measurements = [measurement_to_py(check(m), rd) for m in rd.drain("measurements")]
    assert measurements == [
        {"metric_ref": metrics["requests"], "time_unix_nano": T0 + 3, "attributes": {"http.method": "GET"},
         "span_context": None, "value": 3, "as_long": 3},
        {"metric_ref": metrics["in_flight"], "time_unix_nano": T0 + 4, "attributes": {}, "span_context": None,
         "value": 0, "as_long": 0},
        {"metric_ref": metrics["depth"], "time_unix_nano": T0 + 5, "attributes": {"queue": "q1"},
         "span_context": ctx, "value": -3, "as_long": -3},
        {"metric_ref": metrics["latency"], "time_unix_nano": T0 + 6, "attributes": {}, "span_context": None,
         "value": 12.5, "as_double": 12.5},
        {"metric_ref": metrics["size"], "time_unix_nano": T0 + 7, "attributes": {}, "span_context": None,
         "value": 1024.0, "as_double": 1024.0},
    ]

    assert unknown == [], f"our writer wrote extension fields although none were asked for: {unknown}"
    for ring in rs.RINGS:
        assert rd.try_read(ring) is None
    assert ours.counters() == {k: 0 for k in ours.counters()}, "nothing may be dropped or truncated"


def test_reference_reader_reads_our_ring_at_full_capacity(native, pb, path):
    """We allow N unread records (the reference N-1); a reference reader reads all of them, lap after lap."""
    ours = native.Writer(path, **REFERENCE_WRITER_ARGS)
    metric = ours.create_metric_stream(0, "m", "", "", {"gauge": {}})
    rd = rs.ReferenceStyleReader(path)
    seq = 0
    for lap in range(3):
        for i in range(1024):
            assert ours.record_measurement(metric, {}, seq + i, seq + i) is True, f"record {i} of lap {lap}"
        assert rd.ring_header("measurements")["writer_index"] - rd.ring_header("measurements")["reader_index"] == 1024
        assert ours.record_measurement(metric, {}, 0, -1) is False, "the ring holds exactly N"
        got = rd.drain("measurements")
        assert [(m.time_unix_nano, m.as_long) for m in got] == [(seq + i, seq + i) for i in range(1024)]
        seq += 1024
    assert ours.counters()["dropped_full_measurements"] == 3


def test_protocol_text_reader_reads_our_records_past_2_32(native, pb, path):
    """Our writer stores the lap number as the protocol text defines it (shift, then truncate)."""
    start = (1 << 32) - 5
    w = rs.ReferenceStyleWriter(path, start_sequence=start)
    w.close()
    ours = native.Writer(path, **REFERENCE_WRITER_ARGS)
    metric = ours.create_metric_stream(0, "m", "", "", {"gauge": {}})
    for i in range(10):
        assert ours.record_measurement(metric, {}, i, i) is True

    # The reference's Rust reader computes the truncate-first value and stops at sequence
    # 2^32 (docs/FORMAT.md, "Compatibility"); a reader following the protocol text does not.
    # Sequences start + 1 .. start + 4 lie below 2^32, where both agree.
    rust = rs.ReferenceStyleReader(path, flag=rs.flag_truncate_first)
    assert [m.as_long for m in rust.drain("measurements")] == [0, 1, 2, 3]
    text = rs.ReferenceStyleReader(path, flag=rs.flag_shift_first)
    assert [m.as_long for m in text.drain("measurements")] == [4, 5, 6, 7, 8, 9]
