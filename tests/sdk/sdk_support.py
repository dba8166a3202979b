"""Helpers of the otlp_mmap.sdk tests: read the file back and rebuild what a collector would
see (spans merged from their records, metric points aggregated as the specification says).

A module of its own (not conftest.py): every test directory has a conftest.py."""

from __future__ import annotations

import bisect
from typing import Any, Dict, List, Optional

from otlp_mmap import Reader

# Small rings: the tests write little, and full-ring behaviour is cheap to reach.
SMALL_RINGS = {
    "OTLP_MMAP_EVENTS_SLOTS": "1024",
    "OTLP_MMAP_SPANS_SLOTS": "2048",
    "OTLP_MMAP_MEASUREMENTS_SLOTS": "2048",
    "OTLP_MMAP_DICTIONARY_INITIAL_BYTES": "64k",
}


def read_all(path: str) -> Dict[str, List[Dict[str, Any]]]:
    with Reader(path, torn_grace_seconds=0.0) as reader:
        return reader.read_all()


def merge_spans(records: List[Dict[str, Any]]) -> Dict[bytes, Dict[str, Any]]:
    """Spans by span id, merged from their records in ring order (docs/FORMAT.md §9.11)."""
    spans: Dict[bytes, Dict[str, Any]] = {}
    for rec in records:
        sid = rec["span_id"]
        kind = rec["type"]
        if kind == "start":
            spans[sid] = {
                "trace_id": rec["trace_id"],
                "span_id": sid,
                "parent_span_id": rec["parent_span_id"] or None,
                "name": rec["name"],
                "kind": rec["kind"],
                "flags": rec["flags"],
                "trace_state": rec["trace_state"],
                "start": rec["start_time_unix_nano"],
                "attributes": dict(rec["attributes"]),
                "events": [],
                "links": [],
                "end": None,
                "status": None,
                "dropped_attributes_count": 0,
                "dropped_events_count": 0,
                "dropped_links_count": 0,
                "scope_ref": rec["scope_ref"],
                "records": ["start"],
            }
            continue
        span = spans[sid]
        span["records"].append(kind)
        if kind == "name":
            span["name"] = rec["name"]
        elif kind == "attributes":
            span["attributes"].update(rec["attributes"])
        elif kind == "link":
            span["links"].extend(rec["links"])
        elif kind == "add_event":
            span["events"].append(
                {
                    "name": rec["name"],
                    "time": rec["time_unix_nano"],
                    "attributes": rec["attributes"],
                    "dropped_attributes_count": rec["dropped_attributes_count"],
                }
            )
        elif kind == "end":
            span["end"] = rec["end_time_unix_nano"]
            span["status"] = rec["status"]
            for key in ("dropped_attributes_count", "dropped_events_count", "dropped_links_count"):
                span[key] = rec[key]
    return spans


def spans_by_name(path: str) -> Dict[str, Dict[str, Any]]:
    spans = merge_spans(read_all(path)["spans"])
    result: Dict[str, Dict[str, Any]] = {}
    for span in spans.values():
        assert span["name"] not in result, f"two spans named {span['name']!r}"
        result[span["name"]] = span
    return result


def freeze(attributes: Optional[Dict[str, Any]]) -> Any:
    def f(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return tuple(f(x) for x in v)
        if isinstance(v, dict):
            return tuple(sorted((k, f(x)) for k, x in v.items()))
        return v

    return tuple(sorted((k, f(v)) for k, v in (attributes or {}).items()))


def aggregate_metrics(path: str) -> Dict[str, Dict[str, Any]]:
    """{metric name: {"stream": MetricRef, "points": {frozen attributes: point}}}, aggregated
    from the raw measurements as docs/FORMAT.md §9.10 and the specification define:
    DELTA sums add, CUMULATIVE sums keep the latest total, gauges the latest value, explicit
    histograms count values into (b[i-1], b[i]] buckets with sum/count/min/max."""
    with Reader(path, torn_grace_seconds=0.0) as reader:
        measurements = []
        while (m := reader.read_measurement()) is not None:  # only this ring is consumed
            measurements.append(m)
        streams = {ref: reader.read_metric_stream(ref) for ref in {m["metric_ref"] for m in measurements}}
    result: Dict[str, Dict[str, Any]] = {}
    for m in measurements:
        stream = streams[m["metric_ref"]]
        entry = result.setdefault(stream["name"], {"stream": stream, "points": {}, "exemplars": []})
        assert entry["stream"] == stream, f"two streams named {stream['name']!r}"
        key = freeze(m["attributes"])
        value = m["value"]
        (kind, params), = stream["aggregation"].items()
        points = entry["points"]
        if m["span_context"] is not None:
            entry["exemplars"].append(m["span_context"])
        if kind == "sum":
            if params["aggregation_temporality"] == 1:
                points[key] = points.get(key, 0) + value
            else:
                points[key] = value
        elif kind == "gauge":
            points[key] = value
        elif kind == "histogram":
            bounds = params["bucket_boundaries"]
            p = points.setdefault(
                key, {"counts": [0] * (len(bounds) + 1), "sum": 0, "count": 0, "min": None, "max": None}
            )
            p["counts"][bisect.bisect_left(bounds, value)] += 1
            p["sum"] += value
            p["count"] += 1
            p["min"] = value if p["min"] is None else min(p["min"], value)
            p["max"] = value if p["max"] is None else max(p["max"], value)
        else:
            raise AssertionError(f"unexpected aggregation {kind}")
    return result
