"""otlp_mmap._native.Writer: every call, every rejected input, and round trips through the Reader."""

import gc
import os
import stat
import threading

import pytest
from native_support import PARENT_ID, SMALL, SPAN_ID, TRACE_ID

from otlp_mmap import CUMULATIVE, DELTA, FormatError, Reader, Writer

# ------------------------------------------------------------------ dictionary entries


def test_record_string_is_interned_once(writer, reader):
    a = writer.record_string("alpha")
    assert a > 0
    assert writer.record_string("alpha") == a
    b = writer.record_string("beta")
    assert b not in (0, a)
    assert reader.read_string(a) == "alpha"
    assert reader.read_string(b) == "beta"
    assert reader.read_string(writer.record_string("")) == ""
    assert reader.read_string(writer.record_string("ünïcødé ✓")) == "ünïcødé ✓"


def test_record_string_rejects_non_str(writer, snapshot):
    snap = snapshot()
    with pytest.raises(TypeError, match="must be a str"):
        writer.record_string(b"bytes")
    with pytest.raises(TypeError):
        writer.record_string(None)
    with pytest.raises(ValueError, match="UTF-8"):
        writer.record_string("\ud800")
    assert snap.unchanged()


def test_resource_round_trip_and_order_independence(writer, reader):
    attrs = {"service.name": "svc", "host.cpus": 2, "ratio": 0.5, "on": True, "blob": b"\x00\x01", "tags": ["a", "b"]}
    ref = writer.create_resource(attrs, schema_url="https://opentelemetry.io/schemas/1.21.0")
    reordered = dict(reversed(list(attrs.items())))
    assert writer.create_resource(reordered, schema_url="https://opentelemetry.io/schemas/1.21.0") == ref
    assert writer.create_resource(attrs) != ref  # another schema_url, another entry
    assert reader.read_resource(ref) == {
        "attributes": attrs,
        "dropped_attributes_count": 0,
        "schema_url": "https://opentelemetry.io/schemas/1.21.0",
    }
    empty = writer.create_resource(None)
    assert reader.read_resource(empty) == {"attributes": {}, "dropped_attributes_count": 0, "schema_url": ""}


def test_lenient_resource_and_scope_drop_bad_attributes_and_count_them(writer, reader):
    """lenient=True (the SDK's providers): each attribute the strict call would raise about is
    dropped alone and counted; the others are written as the strict call writes them."""
    from collections import OrderedDict

    from otlp_mmap import _native

    good = {"ok": 1, "tags": ["a", "b"], "blob": bytearray(b"\x01"), "": "empty key is valid strictly"}
    bad = {
        "object": object(),
        "big": 2**64,
        "mixed": [1, "a"],
        "nested": [[1]],
        "surrogate": "\udc80",
        "none": None,
        "dict": {"a": 1},
        7: "int key",
    }
    before = _native._sdk_counters()["invalid_attributes"]
    ref = writer.create_resource(OrderedDict({**good, **bad}), lenient=True)
    expected = {"ok": 1, "tags": ["a", "b"], "blob": b"\x01"}  # the empty key too: the SDK's rule
    assert reader.read_resource(ref)["attributes"] == expected
    assert _native._sdk_counters()["invalid_attributes"] - before == len(bad) + 1
    scope = writer.create_instrumentation_scope(ref, "lib", None, {"k": "v", "bad": object()}, lenient=True)
    assert reader.read_scope(scope)["attributes"] == {"k": "v"}
    assert writer.create_resource("not a mapping", lenient=True) == writer.create_resource({})
    with pytest.raises(TypeError):
        writer.create_resource({"object": object()})  # strict by default


def test_scope_round_trip(writer, reader):
    resource = writer.create_resource({"service.name": "svc"})
    scope = writer.create_instrumentation_scope(
        resource, "my.library", "2.1", {"lib.flag": True}, schema_url="https://example.com/s"
    )
    again = writer.create_instrumentation_scope(resource, "my.library", "2.1", {"lib.flag": True}, "https://example.com/s")
    assert again == scope
    assert reader.read_scope(scope) == {
        "name": "my.library",
        "version": "2.1",
        "attributes": {"lib.flag": True},
        "dropped_attributes_count": 0,
        "resource_ref": resource,
        "schema_url": "https://example.com/s",
    }
    bare = writer.create_instrumentation_scope(resource, "bare")
    assert reader.read_scope(bare) == {
        "name": "bare",
        "version": None,
        "attributes": {},
        "dropped_attributes_count": 0,
        "resource_ref": resource,
        "schema_url": "",
    }


AGGREGATIONS = [
    {"gauge": {}},
    {"sum": {"aggregation_temporality": DELTA, "is_monotonic": True}},
    {"sum": {"aggregation_temporality": CUMULATIVE, "is_monotonic": False}},
    {"histogram": {"aggregation_temporality": DELTA, "bucket_boundaries": [0.0, 5.0, 10.0, 25.5]}},
    {"histogram": {"aggregation_temporality": CUMULATIVE, "bucket_boundaries": []}},
    {"exp_histogram": {"aggregation_temporality": DELTA, "max_buckets": 160, "max_scale": 20}},
    {"exp_histogram": {"aggregation_temporality": CUMULATIVE, "max_buckets": 1, "max_scale": -10}},
]


@pytest.mark.parametrize("aggregation", AGGREGATIONS, ids=lambda a: next(iter(a)))
def test_metric_stream_round_trip(writer, reader, scope, aggregation):
    ref = writer.create_metric_stream(scope, "http.server.duration", "How long requests take", "ms", aggregation)
    assert ref > 0
    assert reader.read_metric_stream(ref) == {
        "name": "http.server.duration",
        "description": "How long requests take",
        "unit": "ms",
        "scope_ref": scope,
        "aggregation": aggregation,
    }


def test_metric_stream_defaults_and_temporality_names(writer, reader, scope):
    ref = writer.create_metric_stream(scope, "c", "", "", {"sum": {"aggregation_temporality": "CUMULATIVE"}})
    assert reader.read_metric_stream(ref)["aggregation"] == {
        "sum": {"aggregation_temporality": CUMULATIVE, "is_monotonic": False}
    }
    ref = writer.create_metric_stream(scope, "h", None, None, {"histogram": {"aggregation_temporality": "delta"}})
    got = reader.read_metric_stream(ref)
    assert got["aggregation"] == {"histogram": {"aggregation_temporality": DELTA, "bucket_boundaries": []}}
    assert (got["description"], got["unit"]) == ("", "")
    ref = writer.create_metric_stream(scope, "e", "", "", {"exp_histogram": {"aggregation_temporality": 1}})
    assert reader.read_metric_stream(ref)["aggregation"] == {
        "exp_histogram": {"aggregation_temporality": DELTA, "max_buckets": 160, "max_scale": 20}
    }
    ref = writer.create_metric_stream(scope, "g", "", "", {"gauge": None})
    assert reader.read_metric_stream(ref)["aggregation"] == {"gauge": {}}


BAD_AGGREGATIONS = [
    ({}, "exactly one key"),
    ({"gauge": {}, "sum": {}}, "exactly one key"),
    ("gauge", "exactly one key"),
    ({"summary": {}}, "unknown aggregation"),
    ({"gauge": {"aggregation_temporality": 1}}, "allowed: none"),
    ({"gauge": []}, "must be a mapping"),
    ({"sum": {}}, "needs aggregation_temporality"),
    ({"sum": {"aggregation_temporality": 0}}, "1 or 'DELTA'"),
    ({"sum": {"aggregation_temporality": 3}}, "1 or 'DELTA'"),
    ({"sum": {"aggregation_temporality": "SOMETIMES"}}, "1 or 'DELTA'"),
    ({"sum": {"aggregation_temporality": True}}, "1 or 'DELTA'"),
    ({"sum": {"aggregation_temporality": 1, "is_monotonic": 1}}, "True or False"),
    ({"sum": {"aggregation_temporality": 1, "monotonic": True}}, "allowed: aggregation_temporality, is_monotonic"),
    ({"histogram": {"aggregation_temporality": 1, "bucket_boundaries": [1.0, 1.0]}}, "strictly increasing"),
    ({"histogram": {"aggregation_temporality": 1, "bucket_boundaries": [2.0, 1.0]}}, "strictly increasing"),
    ({"histogram": {"aggregation_temporality": 1, "bucket_boundaries": [float("nan")]}}, "finite"),
    ({"histogram": {"aggregation_temporality": 1, "bucket_boundaries": ["1"]}}, "must hold floats"),
    ({"histogram": {"aggregation_temporality": 1, "bucket_boundaries": 1.0}}, "list of floats"),
    ({"exp_histogram": {"aggregation_temporality": 1, "max_buckets": 0}}, "max_buckets"),
    ({"exp_histogram": {"aggregation_temporality": 1, "max_scale": 21}}, "max_scale"),
    ({"exp_histogram": {"aggregation_temporality": 1, "max_scale": -11}}, "max_scale"),
    ({"exp_histogram": {"aggregation_temporality": 1, "max_scale": 1.5}}, "max_scale"),
]


@pytest.mark.parametrize("aggregation,message", BAD_AGGREGATIONS)
def test_metric_stream_rejects_bad_aggregation(writer, scope, snapshot, aggregation, message):
    snap = snapshot()
    with pytest.raises(ValueError, match=message):
        writer.create_metric_stream(scope, "m", "", "", aggregation)
    assert snap.unchanged()


# ------------------------------------------------------------------ measurements


def test_measurement_round_trip(writer, reader, scope):
    metric = writer.create_metric_stream(scope, "m", "", "1", {"sum": {"aggregation_temporality": 1}})
    ctx = {"trace_id": TRACE_ID, "span_id": SPAN_ID, "flags": 1}
    assert writer.record_measurement(metric, {"k": "v"}, 1_000, 42)
    assert writer.record_measurement(metric, None, 2_000, 2.5, span_context=ctx)
    assert writer.record_measurement(metric, {}, 3_000, True)
    assert writer.record_measurement(metric, {"n": -1}, 4_000, -(2**63))
    assert writer.record_measurement(metric, {"n": 2**63 - 1}, 5_000, 0.0)
    got = [reader.read_measurement() for _ in range(5)]
    assert reader.read_measurement() is None
    assert got[0] == {
        "metric_ref": metric,
        "time_unix_nano": 1_000,
        "attributes": {"k": "v"},
        "as_long": 42,
        "value": 42,
        "span_context": None,
    }
    assert type(got[0]["value"]) is int
    assert got[1]["value"] == 2.5 and type(got[1]["value"]) is float and got[1]["as_double"] == 2.5
    assert got[1]["span_context"] == ctx
    assert got[2]["value"] == 1 and "as_long" in got[2]  # a bool is an int
    assert got[3]["value"] == -(2**63) and got[3]["attributes"] == {"n": -1}
    assert got[4]["value"] == 0.0 and type(got[4]["value"]) is float and got[4]["attributes"] == {"n": 2**63 - 1}


@pytest.mark.parametrize(
    "value,error",
    [("1", TypeError), (None, TypeError), (1j, TypeError), (2**63, ValueError), (-(2**63) - 1, ValueError)],
)
def test_measurement_rejects_bad_value(writer, scope, snapshot, value, error):
    metric = writer.create_metric_stream(scope, "m", "", "", {"gauge": {}})
    snap = snapshot()
    with pytest.raises(error):
        writer.record_measurement(metric, {"fresh.key": 1}, 1, value)
    assert snap.unchanged()


# ------------------------------------------------------------------ attribute values

GOOD_VALUES = {
    "str": "text",
    "empty_str": "",
    "unicode": "日本語 ✓",
    "true": True,
    "false": False,
    "int": 7,
    "negative": -7,
    "int64_max": 2**63 - 1,
    "int64_min": -(2**63),
    "float": 3.25,
    "bytes": b"\x00\xffraw",
    "empty_bytes": b"",
    "str_list": ["a", "b", ""],
    "bool_list": [True, False],
    "int_list": [1, -2, 3],
    "float_list": [0.5, -1.5],
    "bytes_list": [b"x", b"y"],
    "empty_list": [],
}


def test_attribute_values_round_trip(writer, reader, scope):
    assert writer.record_span_start(scope, TRACE_ID, SPAN_ID, None, 1, "s", 1, 10, GOOD_VALUES)
    merged = {}
    for record in reader.read_all()["spans"]:
        merged.update(record["attributes"])
    assert merged == GOOD_VALUES


def test_attribute_tuples_bytearrays_and_mappings_are_accepted(writer, reader, scope):
    from types import MappingProxyType

    attrs = MappingProxyType({"t": ("a", "b"), "ba": bytearray(b"xy"), "bal": [bytearray(b"1"), b"2"]})
    assert writer.record_span_attributes(scope, TRACE_ID, SPAN_ID, attrs)
    assert reader.read_span_event()["attributes"] == {"t": ["a", "b"], "ba": b"xy", "bal": [b"1", b"2"]}


class Unsupported:
    pass


BAD_ATTRIBUTES = [
    ({"fresh": 1, "bad": None}, TypeError, "'bad'.*NoneType"),
    ({"fresh": 1, "bad": {"nested": 1}}, TypeError, "'bad'.*dict"),
    ({"fresh": 1, "bad": {1, 2}}, TypeError, "'bad'.*set"),
    ({"fresh": 1, "bad": Unsupported()}, TypeError, "'bad'.*Unsupported"),
    ({"fresh": 1, "bad": [1, "a"]}, TypeError, "'bad'.*mixes int and str"),
    ({"fresh": 1, "bad": [1, 1.5]}, TypeError, "'bad'.*mixes int and float"),
    ({"fresh": 1, "bad": [True, 1]}, TypeError, "'bad'.*mixes bool and int"),
    ({"fresh": 1, "bad": [[1]]}, TypeError, "'bad'.*list"),
    ({"fresh": 1, "bad": [None]}, TypeError, "'bad'.*NoneType"),
    ({"fresh": 1, "bad": 2**63}, ValueError, "'bad'.*64-bit"),
    ({"fresh": 1, "bad": -(2**63) - 1}, ValueError, "'bad'.*64-bit"),
    ({"fresh": 1, "bad": [1, 2**64]}, ValueError, "'bad'.*64-bit"),
    ({"fresh": 1, "bad": "\udc80"}, ValueError, "'bad'.*UTF-8"),
    ({"fresh": 1, 7: "seven"}, TypeError, "keys must be str"),
    ({"fresh": 1, "\ud800": 1}, ValueError, "UTF-8"),
    (["not", "a", "mapping"], TypeError, "attributes must be a mapping"),
    ("text", TypeError, "attributes must be a mapping"),
]


def _calls(writer, scope, metric, attrs):
    """Every call that takes attributes, with `attrs` in the attributes' place."""
    return {
        "create_resource": lambda: writer.create_resource(attrs),
        "create_instrumentation_scope": lambda: writer.create_instrumentation_scope(0, "fresh.scope", None, attrs),
        "record_measurement": lambda: writer.record_measurement(metric, attrs, 1, 1),
        "record_event": lambda: writer.record_event(scope, None, 0, 1, attrs, body="fresh body"),
        "record_span_start": lambda: writer.record_span_start(scope, TRACE_ID, SPAN_ID, None, 0, "n", 1, 1, attrs),
        "record_span_attributes": lambda: writer.record_span_attributes(scope, TRACE_ID, SPAN_ID, attrs),
        "record_span_event": lambda: writer.record_span_event(scope, TRACE_ID, SPAN_ID, "e", 1, attrs),
        "record_span_links": lambda: writer.record_span_links(
            scope, TRACE_ID, SPAN_ID, [{"trace_id": TRACE_ID, "span_id": SPAN_ID, "attributes": attrs}]
        ),
    }


@pytest.mark.parametrize("attrs,error,message", BAD_ATTRIBUTES)
def test_bad_attributes_are_rejected_and_write_nothing(writer, scope, snapshot, attrs, error, message):
    metric = writer.create_metric_stream(scope, "m", "", "", {"gauge": {}})
    for name, call in _calls(writer, scope, metric, attrs).items():
        snap = snapshot()
        with pytest.raises(error, match=message):
            call()
        assert snap.unchanged(), name


# ------------------------------------------------------------------ events


BODIES = [
    "a log line",
    "",
    42,
    -1.5,
    True,
    b"\x00bin",
    ["a", 1, 2.5, None, [True]],
    {"msg": "hi", "n": 1, "nested": {"deep": [1, 2]}, "none": None},
    {},
    [],
]


@pytest.mark.parametrize("body", BODIES, ids=lambda b: type(b).__name__)
def test_event_bodies_round_trip(writer, reader, scope, body):
    assert writer.record_event(scope, None, 0, 5, None, body=body)
    assert reader.read_event()["body"] == body


def test_event_round_trip(writer, reader, scope):
    name = writer.record_string("user.login")
    ctx = {"trace_id": TRACE_ID, "span_id": SPAN_ID, "flags": 1}
    assert writer.record_event(
        scope,
        ctx,
        name,
        1_700_000_000_000_000_000,
        {"user.id": 7},
        severity_number=9,
        severity_text="INFO",
        body={"text": "logged in"},
        observed_time_unix_nano=1_700_000_000_000_000_001,
        dropped_attributes_count=3,
    )
    assert writer.record_event(scope, None, 0, 1, None)
    first, second = reader.read_event(), reader.read_event()
    assert first == {
        "scope_ref": scope,
        "time_unix_nano": 1_700_000_000_000_000_000,
        "observed_time_unix_nano": 1_700_000_000_000_000_001,
        "severity_number": 9,
        "severity_text": "INFO",
        "body": {"text": "logged in"},
        "event_name_ref": name,
        "event_name": "user.login",
        "span_context": ctx,
        "attributes": {"user.id": 7},
        "dropped_attributes_count": 3,
    }
    assert second["body"] is None and second["span_context"] is None and second["event_name"] == ""
    assert second["severity_number"] == 0 and second["severity_text"] == ""


def test_event_body_mapping_types(writer, reader, scope):
    from collections import OrderedDict
    from types import MappingProxyType

    body = MappingProxyType({"a": OrderedDict(b=(1, 2)), "c": bytearray(b"z")})
    assert writer.record_event(scope, None, 0, 1, None, body=body)
    assert reader.read_event()["body"] == {"a": {"b": [1, 2]}, "c": b"z"}


BAD_EVENTS = [
    (dict(severity_number=25), ValueError, "severity_number"),
    (dict(severity_number=-1), ValueError, "severity_number"),
    (dict(severity_text=5), TypeError, "severity_text"),
    (dict(body=Unsupported()), TypeError, "body"),
    (dict(body={1: "x"}), TypeError, "keys must be str"),
    (dict(body={"k": {1, 2}}), TypeError, "body"),
    (dict(body=[2**64]), ValueError, "64-bit"),
    (dict(body=[[[[[[[[[[1]]]]]]]]]]), ValueError, "nested"),
    (dict(dropped_attributes_count=-1), ValueError, "dropped_attributes_count"),
    (dict(span_context={"trace_id": TRACE_ID}), ValueError, "span_context"),
    (dict(span_context={"trace_id": b"short", "span_id": SPAN_ID}), ValueError, "16 bytes"),
    (dict(span_context={"trace_id": TRACE_ID, "span_id": SPAN_ID, "flags": -1}), ValueError, "flags"),
    (dict(span_context=(TRACE_ID, SPAN_ID)), TypeError, "span_context"),
]


@pytest.mark.parametrize("kwargs,error,message", BAD_EVENTS)
def test_bad_events_are_rejected_and_write_nothing(writer, scope, snapshot, kwargs, error, message):
    args = dict(span_context=None)
    args.update(kwargs)
    span_context = args.pop("span_context")
    snap = snapshot()
    with pytest.raises(error, match=message):
        writer.record_event(scope, span_context, 0, 1, {"fresh.key": "v"}, **args)
    assert snap.unchanged()


# ------------------------------------------------------------------ spans


def test_span_lifecycle_round_trip(writer, reader, scope):
    link = {"trace_id": PARENT_ID * 2, "span_id": PARENT_ID, "trace_state": "k=v", "attributes": {"l": 1}, "flags": 1}
    assert writer.record_span_start(
        scope, TRACE_ID, SPAN_ID, PARENT_ID, 1, "GET /", 2, 100, {"http.method": "GET"}, trace_state="vendor=1"
    )
    assert writer.record_span_name(scope, TRACE_ID, SPAN_ID, "GET /users")
    assert writer.record_span_attributes(scope, TRACE_ID, SPAN_ID, {"http.status_code": 200})
    assert writer.record_span_links(scope, TRACE_ID, SPAN_ID, [link, {"trace_id": TRACE_ID, "span_id": SPAN_ID}])
    assert writer.record_span_event(scope, TRACE_ID, SPAN_ID, "exception", 150, {"exception.type": "E"}, 2)
    assert writer.record_span_end(
        scope, TRACE_ID, SPAN_ID, 200, (2, "boom"), dropped_attributes_count=1, dropped_events_count=2,
        dropped_links_count=3,
    )
    spans = reader.read_all()["spans"]
    common = {"trace_id": TRACE_ID, "span_id": SPAN_ID, "scope_ref": scope}
    assert spans == [
        {
            **common,
            "type": "start",
            "parent_span_id": PARENT_ID,
            "name": "GET /",
            "kind": 2,
            "start_time_unix_nano": 100,
            "attributes": {"http.method": "GET"},
            "flags": 1,
            "trace_state": "vendor=1",
        },
        {**common, "type": "name", "name": "GET /users"},
        {**common, "type": "attributes", "attributes": {"http.status_code": 200}},
        {
            **common,
            "type": "link",
            "links": [
                {**link, "dropped_attributes_count": 0},
                {
                    "trace_id": TRACE_ID,
                    "span_id": SPAN_ID,
                    "trace_state": "",
                    "attributes": {},
                    "dropped_attributes_count": 0,
                    "flags": 0,
                },
            ],
        },
        {
            **common,
            "type": "add_event",
            "name": "exception",
            "time_unix_nano": 150,
            "attributes": {"exception.type": "E"},
            "dropped_attributes_count": 2,
        },
        {
            **common,
            "type": "end",
            "end_time_unix_nano": 200,
            "status": {"code": 2, "message": "boom"},
            "dropped_attributes_count": 1,
            "dropped_events_count": 2,
            "dropped_links_count": 3,
        },
    ]


def test_span_root_parent_forms_and_status_forms(writer, reader, scope):
    assert writer.record_span_start(scope, TRACE_ID, SPAN_ID, None, 0, "a", 0, 1, None)
    assert writer.record_span_start(scope, bytearray(TRACE_ID), bytearray(SPAN_ID), b"", 0, "b", 5, 1, {})
    assert writer.record_span_end(scope, TRACE_ID, SPAN_ID, 2)
    assert writer.record_span_end(scope, TRACE_ID, SPAN_ID, 2, {"code": 1})
    assert writer.record_span_end(scope, TRACE_ID, SPAN_ID, 2, [0, None])
    spans = reader.read_all()["spans"]
    assert [s.get("parent_span_id") for s in spans[:2]] == [b"", b""]
    assert spans[1]["trace_id"] == TRACE_ID and spans[1]["kind"] == 5
    assert [s["status"] for s in spans[2:]] == [None, {"code": 1, "message": ""}, {"code": 0, "message": ""}]


def test_empty_span_updates_write_nothing_and_succeed(writer, scope, snapshot):
    snap = snapshot()
    assert writer.record_span_attributes(scope, TRACE_ID, SPAN_ID, {})
    assert writer.record_span_attributes(scope, TRACE_ID, SPAN_ID, None)
    assert writer.record_span_links(scope, TRACE_ID, SPAN_ID, [])
    assert snap.unchanged()


BAD_SPAN_STARTS = [
    (dict(trace_id=b"\x01" * 15), ValueError, "trace_id must be exactly 16 bytes"),
    (dict(trace_id="0" * 16), ValueError, "trace_id must be 16 bytes"),
    (dict(trace_id=None), ValueError, "trace_id"),
    (dict(span_id=b"\x01" * 9), ValueError, "span_id must be exactly 8 bytes"),
    (dict(parent_span_id=b"\x01" * 7), ValueError, "parent_span_id"),
    (dict(parent_span_id=7), ValueError, "parent_span_id"),
    (dict(flags=-1), ValueError, "flags"),
    (dict(flags=2**32), ValueError, "flags"),
    (dict(flags=1.0), TypeError, "flags"),
    (dict(name=None), TypeError, "name must be a str"),
    (dict(name=b"x"), TypeError, "name must be a str"),
    (dict(kind=6), ValueError, "kind"),
    (dict(kind=-1), ValueError, "kind"),
    (dict(trace_state=1), TypeError, "trace_state"),
]


@pytest.mark.parametrize("kwargs,error,message", BAD_SPAN_STARTS)
def test_bad_span_starts_are_rejected_and_write_nothing(writer, scope, snapshot, kwargs, error, message):
    args = dict(trace_id=TRACE_ID, span_id=SPAN_ID, parent_span_id=None, flags=1, name="n", kind=1)
    args.update(kwargs)
    trace_state = args.pop("trace_state", "")
    snap = snapshot()
    with pytest.raises(error, match=message):
        writer.record_span_start(
            scope, args["trace_id"], args["span_id"], args["parent_span_id"], args["flags"], args["name"],
            args["kind"], 1, {"fresh.key": 1}, trace_state=trace_state,
        )
    assert snap.unchanged()


BAD_SPAN_CALLS = [
    ("end", lambda w, s: w.record_span_end(s, TRACE_ID, SPAN_ID, 1, (3, "x")), ValueError, "status code"),
    ("end", lambda w, s: w.record_span_end(s, TRACE_ID, SPAN_ID, 1, (1,)), ValueError, "status must be"),
    ("end", lambda w, s: w.record_span_end(s, TRACE_ID, SPAN_ID, 1, {"message": "x"}), ValueError, "'code'"),
    ("end", lambda w, s: w.record_span_end(s, TRACE_ID, SPAN_ID, 1, (1, 5)), TypeError, "status message"),
    ("end", lambda w, s: w.record_span_end(s, TRACE_ID, SPAN_ID, 1, "ok"), TypeError, "status must be"),
    ("end", lambda w, s: w.record_span_end(s, TRACE_ID, SPAN_ID, 1, dropped_events_count=-1), ValueError, "dropped"),
    ("end", lambda w, s: w.record_span_end(s, TRACE_ID[:8], SPAN_ID, 1), ValueError, "trace_id"),
    ("name", lambda w, s: w.record_span_name(s, TRACE_ID, SPAN_ID, None), TypeError, "name"),
    ("name", lambda w, s: w.record_span_name(s, TRACE_ID, b"", "x"), ValueError, "span_id"),
    ("attributes", lambda w, s: w.record_span_attributes(s, TRACE_ID, SPAN_ID[:4], {"fresh": 1}), ValueError,
     "span_id"),
    ("links", lambda w, s: w.record_span_links(s, TRACE_ID, SPAN_ID, [{"span_id": SPAN_ID}]), ValueError, "trace_id"),
    ("links", lambda w, s: w.record_span_links(s, TRACE_ID, SPAN_ID, [{"trace_id": TRACE_ID, "span_id": b"1"}]),
     ValueError, "span_id"),
    ("links", lambda w, s: w.record_span_links(s, TRACE_ID, SPAN_ID, [1]), TypeError, "links\\[0\\] must be a mapping"),
    ("links", lambda w, s: w.record_span_links(s, TRACE_ID, SPAN_ID, {"trace_id": TRACE_ID}), TypeError, "sequence"),
    ("links", lambda w, s: w.record_span_links(s, TRACE_ID, SPAN_ID, None), TypeError, "sequence"),
    ("links", lambda w, s: w.record_span_links(
        s, TRACE_ID, SPAN_ID, [{"trace_id": TRACE_ID, "span_id": SPAN_ID, "flags": -1}]), ValueError, "flags"),
    ("links", lambda w, s: w.record_span_links(
        s, TRACE_ID, SPAN_ID, [{"trace_id": TRACE_ID, "span_id": SPAN_ID, "attributes": [1]}]), TypeError,
     "attributes"),
    ("links", lambda w, s: w.record_span_links(
        s, TRACE_ID, SPAN_ID, [{"trace_id": TRACE_ID, "span_id": SPAN_ID, "trace_state": 1}]), TypeError,
     "trace_state"),
    ("add_event", lambda w, s: w.record_span_event(s, TRACE_ID, SPAN_ID, 1, 1, None), TypeError, "name"),
    ("add_event", lambda w, s: w.record_span_event(s, TRACE_ID, SPAN_ID, "e", 1, None, -1), ValueError, "dropped"),
]


@pytest.mark.parametrize("kind,call,error,message", BAD_SPAN_CALLS, ids=[c[0] for c in BAD_SPAN_CALLS])
def test_bad_span_calls_are_rejected_and_write_nothing(writer, scope, snapshot, kind, call, error, message):
    snap = snapshot()
    with pytest.raises(error, match=message):
        call(writer, scope)
    assert snap.unchanged()


# ------------------------------------------------------------------ limits: full rings, oversize records


def test_full_ring_returns_false_and_is_counted_exactly(path):
    w = Writer(path, **{**SMALL, "spans_slots": 8, "measurements_slots": 4, "events_slots": 2})
    r = Reader(path)
    metric = w.create_metric_stream(0, "m", "", "", {"gauge": {}})
    assert [w.record_span_end(0, TRACE_ID, SPAN_ID, i) for i in range(8)] == [True] * 8
    assert [w.record_span_end(0, TRACE_ID, SPAN_ID, i) for i in range(5)] == [False] * 5
    assert [w.record_measurement(metric, None, i, i) for i in range(7)] == [True] * 4 + [False] * 3
    assert [w.record_event(0, None, 0, i, None) for i in range(3)] == [True, True, False]
    counters = w.counters()
    assert counters == {
        "dropped_full_events": 1,
        "dropped_full_spans": 5,
        "dropped_full_measurements": 3,
        "dropped_unencodable": 0,
        "truncated_values": 0,
        "dropped_skipped": 0,
    }
    assert r.writer_counters() == counters
    # The reader frees the slots; writing works again.
    assert len(r.read_all()["spans"]) == 8
    assert w.record_span_end(0, TRACE_ID, SPAN_ID, 99)
    assert w.counters()["dropped_full_spans"] == 5


def _open_with_env(path):
    """A writer made after the test set its OTLP_MMAP_* variables, its reader and a scope."""
    writer = Writer(path, **SMALL)
    scope = writer.create_instrumentation_scope(writer.create_resource({"service.name": "tests"}), "tests", "1.0")
    return writer, Reader(path, torn_grace_seconds=0.0), scope


def test_oversize_span_start_is_split_into_attribute_updates(tmp_path, monkeypatch):
    # Above the record limit (1 KiB here; a record may be spread over slots up to it).
    monkeypatch.setenv("OTLP_MMAP_MAX_RECORD_BYTES", "1k")
    writer, reader, scope = _open_with_env(str(tmp_path / "split.mmap"))
    attrs = {f"attribute.{i:02d}": chr(ord("a") + i % 26) * 100 for i in range(40)}
    assert writer.record_span_start(scope, TRACE_ID, SPAN_ID, None, 1, "big", 1, 5, attrs)
    spans = reader.read_all()["spans"]
    assert spans[0]["type"] == "start" and spans[0]["name"] == "big"
    assert len(spans) > 1 and all(s["type"] == "attributes" for s in spans[1:])
    merged = {}
    for s in spans:
        merged.update(s["attributes"])
    assert merged == attrs
    assert writer.counters()["truncated_values"] == 0


def test_long_string_attribute_arrives_whole(writer, reader, scope):
    long = "x" * 10_000  # spread over the slots of its ring
    assert writer.record_span_start(scope, TRACE_ID, SPAN_ID, None, 1, "s", 1, 5, {"big": long, "small": 1})
    assert reader.read_all()["spans"][0]["attributes"] == {"big": long, "small": 1}
    assert writer.counters()["truncated_values"] == 0


def test_huge_string_attribute_is_truncated_and_counted(tmp_path, monkeypatch):
    # Plain protocol: every record in one slot.
    monkeypatch.setenv("OTLP_MMAP_EXTENSIONS", "none")
    writer, reader, scope = _open_with_env(str(tmp_path / "plain.mmap"))
    huge = "x" * 10_000
    assert writer.record_span_start(scope, TRACE_ID, SPAN_ID, None, 1, "s", 1, 5, {"big": huge, "small": 1})
    merged = {}
    for s in reader.read_all()["spans"]:
        merged.update(s["attributes"])
    assert merged["small"] == 1
    assert 0 < len(merged["big"]) < 512 and huge.startswith(merged["big"])
    assert writer.counters()["truncated_values"] == 1

    metric = writer.create_metric_stream(scope, "m", "", "", {"gauge": {}})
    assert writer.record_measurement(metric, {"big": huge}, 1, 1)
    got = reader.read_measurement()["attributes"]["big"]
    assert 0 < len(got) < 256 and huge.startswith(got)
    assert writer.counters()["truncated_values"] == 2


# ------------------------------------------------------------------ configuration, files


def test_config_arguments_set_the_geometry(path):
    w = Writer(path, events_slots=16, events_slot_size=1024, spans_slots=32, spans_slot_size=256,
               measurements_slots=128, measurements_slot_size=64, dictionary_initial_bytes=8192,
               dictionary_max_bytes=1 << 20)
    g = w.geometry
    assert (g["events"]["num_buffers"], g["events"]["buffer_size"]) == (16, 1024)
    assert (g["spans"]["num_buffers"], g["spans"]["buffer_size"]) == (32, 256)
    assert (g["measurements"]["num_buffers"], g["measurements"]["buffer_size"]) == (128, 64)
    assert g["dictionary_initial_bytes"] == 8192 and g["dictionary_max_bytes"] == 1 << 20
    assert g["created_file"] is True
    r = Reader(path).ring_states()
    assert (r["spans"]["num_buffers"], r["spans"]["buffer_size"]) == (32, 256)


def test_environment_sets_the_geometry_and_arguments_override_it(path, tmp_path, monkeypatch):
    monkeypatch.setenv("OTLP_MMAP_SPANS_SLOTS", "64")
    monkeypatch.setenv("OTLP_MMAP_EVENTS_SLOT_SIZE", "1k")
    monkeypatch.setenv("OTLP_MMAP_MEASUREMENTS_SLOTS", "32")
    g = Writer(path, measurements_slots=16).geometry
    assert g["spans"]["num_buffers"] == 64
    assert g["events"]["buffer_size"] == 1024
    assert g["measurements"]["num_buffers"] == 16


def test_default_geometry_and_file_mode(path):
    w = Writer(path)
    g = w.geometry
    assert (g["spans"]["num_buffers"], g["spans"]["buffer_size"]) == (32768, 512)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert g["file_mode"] == 0o600
    assert w.path == path


def test_file_mode_argument_and_environment(tmp_path, monkeypatch):
    a = str(tmp_path / "a.mmap")
    Writer(a, file_mode=0o640, **SMALL)
    assert stat.S_IMODE(os.stat(a).st_mode) == 0o640
    monkeypatch.setenv("OTLP_MMAP_FILE_MODE", "0644")
    b = str(tmp_path / "b.mmap")
    Writer(b, **SMALL)
    assert stat.S_IMODE(os.stat(b).st_mode) == 0o644


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(spans_slots=100), "power of two"),
        (dict(spans_slots=0), "power of two"),
        (dict(events_slot_size=100), "multiple of 8"),
        (dict(measurements_slot_size=8), "out of range"),
        (dict(dictionary_initial_bytes=100), "dictionary initial size"),
        (dict(dictionary_max_bytes=1024, dictionary_initial_bytes=4096), "dictionary maximum size"),
        (dict(spans_slots=-1), "spans_slots"),
        (dict(file_mode=0o1000), "file_mode"),
    ],
)
def test_invalid_config_raises_value_error(path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Writer(path, **kwargs)
    assert not os.path.exists(path)


def test_invalid_config_types_and_environment(path, monkeypatch):
    with pytest.raises(TypeError):
        Writer(path, spans_slots="64")
    with pytest.raises(TypeError):
        Writer(path, spans_slots=64.0)
    monkeypatch.setenv("OTLP_MMAP_SPANS_SLOTS", "lots")
    with pytest.raises(ValueError, match="OTLP_MMAP_SPANS_SLOTS"):
        Writer(path)
    monkeypatch.setenv("OTLP_MMAP_SPANS_SLOTS", "100")
    with pytest.raises(ValueError, match="power of two"):
        Writer(path)


def test_reopening_keeps_unread_records(path):
    w = Writer(path, **SMALL)
    key = w.record_string("kept")
    for i in range(3):
        assert w.record_span_end(0, TRACE_ID, SPAN_ID, i)
    del w
    gc.collect()
    w2 = Writer(path, **{**SMALL, "spans_slots": 128})  # an existing file keeps its geometry
    assert w2.geometry["created_file"] is False
    assert w2.geometry["spans"]["num_buffers"] == 64
    assert w2.record_span_end(0, TRACE_ID, SPAN_ID, 3)
    r = Reader(path)
    assert [s["end_time_unix_nano"] for s in r.read_all()["spans"]] == [0, 1, 2, 3]
    # Earlier entries stay readable (a new writer process interns afresh: its refs may differ).
    assert r.read_string(key) == r.read_string(w2.record_string("kept")) == "kept"


def test_writers_of_one_file_share_the_core_writer(path):
    a = Writer(path, **SMALL)
    b = Writer(path, spans_slots=1024)
    assert b.geometry["spans"]["num_buffers"] == 64
    assert a.record_string("x") == b.record_string("x")


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        Writer(str(tmp_path / "missing-dir" / "f.mmap"))
    with pytest.raises(OSError):
        Writer(str(tmp_path))  # a directory
    garbage = tmp_path / "garbage.mmap"
    garbage.write_bytes(b"\x07" * 4096)  # version 0x0707...: not a version we know
    with pytest.raises(FormatError):
        Writer(str(garbage))
    short = tmp_path / "short.mmap"
    short.write_bytes(b"\x01\x02\x03")
    with pytest.raises(FormatError):
        Writer(str(short))


def test_truncated_file_of_ours_is_moved_aside_not_rewritten(path, tmp_path):
    Writer(path, **SMALL).record_string("x")
    data = open(path, "rb").read()
    cut = tmp_path / "cut.mmap"
    cut.write_bytes(data[:4096])
    with pytest.raises(FormatError, match="overlaps|out of bounds"):
        Reader(str(cut))
    w = Writer(str(cut), **SMALL)
    assert w.geometry["created_file"] is True
    (aside,) = tmp_path.glob("cut.mmap.corrupt-*")
    assert aside.read_bytes() == data[:4096]
    assert w.geometry["moved_aside_path"] == str(aside)
    assert w.geometry["moved_aside_reason"] and w.geometry["rolled_over"] is False
    assert Reader(str(cut)).header()["version"] == 1


def test_empty_file_is_refused_and_left_alone(tmp_path):
    p = tmp_path / "empty.mmap"
    p.write_bytes(b"")
    with pytest.raises(FormatError, match="not an otlp-mmap file"):
        Writer(str(p), **SMALL)
    assert p.read_bytes() == b""


def test_pathlike_paths(tmp_path):
    p = tmp_path / "pathlib.mmap"
    w = Writer(p, **SMALL)
    assert w.path == str(p)
    assert Reader(p).path == str(p)


def test_counters_and_after_fork(writer):
    assert set(writer.counters()) == {
        "dropped_full_events",
        "dropped_full_spans",
        "dropped_full_measurements",
        "dropped_unencodable",
        "truncated_values",
        "dropped_skipped",
    }
    writer.after_fork_in_child()  # harmless in the parent too
    assert writer.record_string("after fork") > 0
    assert "Writer" in repr(writer)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_writes_to_the_same_file(writer, reader, scope):
    writer.record_string("before fork")
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            writer.after_fork_in_child()
            ok = writer.record_span_name(scope, TRACE_ID, SPAN_ID, "from child")
            code = 0 if ok and writer.record_string("before fork") > 0 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert reader.read_span_event()["name"] == "from child"


def test_threads_write_concurrently(writer, reader, scope):
    metric = writer.create_metric_stream(scope, "m", "", "", {"gauge": {}})
    got = []

    def work(n):
        ok = 0
        for i in range(10):
            ok += writer.record_measurement(metric, {"thread": n}, i, i)
        got.append(ok)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(got) == 40
    assert sorted(m["attributes"]["thread"] for m in reader.read_all()["measurements"]) == sorted(
        [n for n in range(4) for _ in range(10)]
    )


def test_reentrant_call_from_a_destructor(writer, reader, scope):
    """A __del__ run when a call releases what it owned may itself call the writer."""
    from collections.abc import Mapping

    class Key(str):
        def __del__(self):
            writer.record_span_name(scope, TRACE_ID, SPAN_ID, "from __del__")

    class FreshKeys(Mapping):
        """Each iteration makes new keys: the call's own copy holds their only reference."""

        def __iter__(self):
            return iter([Key("k")])

        def __len__(self):
            return 1

        def __getitem__(self, key):
            return 1

    assert writer.record_span_attributes(scope, TRACE_ID, SPAN_ID, FreshKeys())
    # The nested call ran when the outer one released its copy, after the outer record.
    assert [s["type"] for s in reader.read_all()["spans"]] == ["attributes", "name"]


def test_key_cache_fills_once_per_key(writer, scope):
    metric = writer.create_metric_stream(scope, "m", "", "", {"gauge": {}})
    before = writer.key_cache_size
    for i in range(5):
        writer.record_measurement(metric, {"cached.a": i, "cached.b": i}, i, i)
    assert writer.key_cache_size == before + 2


def test_key_cache_goes_by_content_not_by_a_reused_address(writer, reader, scope):
    """The cache looks a key up by its object's address first. Keys made afresh for each call
    are freed after it, and the next call's new key is often put at the same address: each
    must still come back under its own name, and equal keys that are other objects share an
    entry."""
    metric = writer.create_metric_stream(scope, "m", "", "", {"gauge": {}})
    for i in range(3000):
        key = "".join(("fresh.", str(i)))
        assert writer.record_measurement(metric, {key: "v"}, 1, i)
        assert reader.read_measurement()["attributes"] == {key: "v"}
        del key
    size = writer.key_cache_size
    for i in range(50):
        same = "".join(("fresh.", str(i % 5)))  # equal to a cached key, another object
        assert writer.record_measurement(metric, {same: i}, 1, i)
        assert reader.read_measurement()["attributes"] == {same: i}
    assert writer.key_cache_size == size


OTHER_BAD_CALLS = [
    ("resource schema_url", lambda w, s, m: w.create_resource({"fresh": 1}, schema_url=5), TypeError, "schema_url"),
    ("scope name", lambda w, s, m: w.create_instrumentation_scope(0, None, "1", {"fresh": 1}), TypeError, "name"),
    ("scope version", lambda w, s, m: w.create_instrumentation_scope(0, "fresh.name", 1), TypeError, "version"),
    ("scope schema_url", lambda w, s, m: w.create_instrumentation_scope(0, "fresh.name", None, None, b"u"), TypeError,
     "schema_url"),
    ("metric name", lambda w, s, m: w.create_metric_stream(s, 5, "", "", {"gauge": {}}), TypeError, "name"),
    ("metric unit", lambda w, s, m: w.create_metric_stream(s, "n", "", 1, {"gauge": {}}), TypeError, "unit"),
    ("measurement span_context", lambda w, s, m: w.record_measurement(
        m, {"fresh": 1}, 1, 1, span_context={"trace_id": TRACE_ID, "span_id": b"x"}), ValueError, "span_id"),
    ("measurement ref type", lambda w, s, m: w.record_measurement("1", {"fresh": 1}, 1, 1), TypeError, "metric_ref"),
    ("negative time", lambda w, s, m: w.record_measurement(m, {"fresh": 1}, -1, 1), ValueError, "time_unix_nano"),
    ("huge time", lambda w, s, m: w.record_span_end(s, TRACE_ID, SPAN_ID, 2**64), ValueError, "end_time_unix_nano"),
    ("huge ref", lambda w, s, m: w.record_measurement(2**63, {"fresh": 1}, 1, 1), ValueError, "metric_ref"),
    ("float time", lambda w, s, m: w.record_span_end(s, TRACE_ID, SPAN_ID, 1.5), TypeError, "end_time_unix_nano"),
    ("scope_ref type", lambda w, s, m: w.record_span_name(None, TRACE_ID, SPAN_ID, "n"), TypeError, "scope_ref"),
    ("event name ref type", lambda w, s, m: w.record_event(s, None, "name", 1, None), TypeError, "event_name_ref"),
    ("severity type", lambda w, s, m: w.record_event(s, None, 0, 1, None, severity_number="INFO"), TypeError,
     "severity_number"),
    ("unknown keyword", lambda w, s, m: w.record_event(s, None, 0, 1, None, sevrity_number=1), TypeError,
     "incompatible function arguments"),
    ("positional keyword-only", lambda w, s, m: w.record_span_end(s, TRACE_ID, SPAN_ID, 1, None, 1), TypeError,
     "incompatible function arguments"),
]


@pytest.mark.parametrize("what,call,error,message", OTHER_BAD_CALLS, ids=[c[0] for c in OTHER_BAD_CALLS])
def test_other_bad_arguments_write_nothing(writer, scope, snapshot, what, call, error, message):
    metric = writer.create_metric_stream(scope, "m", "", "", {"gauge": {}})
    snap = snapshot()
    with pytest.raises(error, match=message):
        call(writer, scope, metric)
    assert snap.unchanged()


def test_callers_containers_are_never_modified(writer, reader, scope):
    from types import MappingProxyType

    blob = bytearray(b"x")
    body = ("a", blob, {"k": (1, blob)})
    body_copy = repr(body)
    assert writer.record_event(scope, None, 0, 1, None, body=body)
    assert repr(body) == body_copy and body[1] is blob and body[2]["k"][1] is blob
    link = MappingProxyType({"trace_id": TRACE_ID, "span_id": SPAN_ID, "attributes": MappingProxyType({"a": 1})})
    links = (link,)
    assert writer.record_span_links(scope, TRACE_ID, SPAN_ID, links)
    assert links[0] is link and isinstance(link["attributes"], MappingProxyType)
    records = reader.read_all()
    assert records["events"][0]["body"] == ["a", b"x", {"k": [1, b"x"]}]
    assert records["spans"][0]["links"][0]["attributes"] == {"a": 1}
