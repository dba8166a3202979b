"""What the OpenTelemetry Collector received from one run of tests/sdk/test_frameworks.py
(its file exporter's OTLP/JSON), reduced to what the official SDK and ours must agree on.

Normalised, because it must differ between two runs of the same application (everything
else is compared as it arrived):
* ids: trace and span ids become labels of the span's place in its trace ("trace 3: GET
  /proxy > GET > GET /items"), which parents, links, log records and exemplars refer to;
* times: every timestamp (and durations with them) is dropped, sibling spans are ordered by
  their start, traces by their root's start;
* the server's port (a free port per run) and the clients' ephemeral ports: every attribute
  whose key ends in ".port", and ":<port>" inside strings, become "<port>"; access-log
  timestamps in bodies ("[02/Dec/2026 16:39:31]") become "[<time>]";
* the resource: the SDK's name and version (telemetry.sdk.*), service.instance.id, process.*,
  host.* and os.* (each SDK's own detectors), and the label that tells runs apart;
* span flags: only the is-remote bits (0x100, 0x200); the official exporter does not write the
  W3C trace flags into the low byte;
* metric data points of durations (unit "ms" or "s"): only their count and bucket bounds, not
  their sum, min, max or bucket counts; metrics of several processes (gunicorn's workers) are
  added up per attribute set, as are their log records ordered by time;
* exemplars: measurements of durations and of counters measured more than once per
  collection are sampled (by time, or at random by the official SDK): there only whether
  each exemplar refers to a span of the run is compared;
* log records of the telemetry libraries themselves (scopes "opentelemetry.*", "otlp_mmap*"):
  each SDK's own diagnostics, in its own words.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "otlp"))
import otelcol  # noqa: E402

DURATION_UNITS = {"ms", "s"}
RESOURCE_DROPPED_PREFIXES = ("telemetry.sdk.", "process.", "host.", "os.")
RESOURCE_DROPPED = {"service.instance.id"}
SDK_SCOPES = ("opentelemetry.", "otlp_mmap")
ACCESS_LOG_TIME = re.compile(r"\[\d\d/[A-Z][a-z]{2}/\d{4} \d\d:\d\d:\d\d\]")
REMOTE_BITS = 0x300
RUN_LABEL = "frameworks.run"  # resource attribute that tells the runs apart in the Collector

Item = Tuple[dict, dict, dict]  # (resource, scope, span | metric | log record) of the OTLP/JSON


@dataclass
class Received:
    """The (resource, scope, item) triples of one run, per signal."""

    spans: List[Item] = field(default_factory=list)
    metrics: List[Item] = field(default_factory=list)
    logs: List[Item] = field(default_factory=list)


def split_runs(records: Iterable[dict]) -> Dict[str, Received]:
    """The Collector's exported records, per run (per value of RUN_LABEL)."""
    records = list(records)
    runs: Dict[str, Received] = {}
    for top, name in (("resourceSpans", "spans"), ("resourceMetrics", "metrics"), ("resourceLogs", "logs")):
        for resource, scope, item in otelcol.items(records, top):
            label = otelcol.plain_attributes(resource).get(RUN_LABEL)
            getattr(runs.setdefault(str(label), Received()), name).append((resource, scope, item))
    return runs


class Normaliser:
    """Values as compared: ports and access-log times replaced (see the module docstring)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def value(self, key: str, value: Any) -> Any:
        if key.endswith(".port"):
            return "<port>"
        return self._strings(value)

    def _strings(self, value: Any) -> Any:
        if isinstance(value, str):
            return ACCESS_LOG_TIME.sub("[<time>]", value.replace(f":{self.port}", ":<port>"))
        if isinstance(value, list):
            return [self._strings(v) for v in value]
        if isinstance(value, dict):
            return {k: self._strings(v) for k, v in value.items()}
        return value

    def attributes(self, item: dict) -> Dict[str, Any]:
        return {k: self.value(k, v) for k, v in otelcol.plain_attributes(item).items()}


def resource_view(resource: dict) -> Dict[str, Any]:
    return {
        k: v
        for k, v in otelcol.plain_attributes(resource).items()
        if k not in RESOURCE_DROPPED and not k.startswith(RESOURCE_DROPPED_PREFIXES) and k != RUN_LABEL
    }


def resources_of(received: Received) -> Dict[str, List[Dict[str, Any]]]:
    """Per signal, the distinct resources (as compared) its items came with."""
    out: Dict[str, List[Dict[str, Any]]] = {}
    for signal in ("spans", "metrics", "logs"):
        views = {json.dumps(resource_view(r), sort_keys=True) for r, _, _ in getattr(received, signal)}
        out[signal] = [json.loads(v) for v in sorted(views)]
    return out


def scope_view(scope: dict) -> Tuple[str, str]:
    return (scope.get("name", ""), scope.get("version", ""))


# ---------------------------------------------------------------------------- spans


class Spans:
    """The spans of one run as trees: `labels` names each span id by its place; `views`
    holds, per label in tree order, every compared field of the span."""

    def __init__(self, received: Received, normal: Normaliser) -> None:
        self.normal = normal
        spans = {s["spanId"]: (resource, scope, s) for resource, scope, s in received.spans}
        assert len(spans) == len(received.spans), "a span id arrived twice"
        children: Dict[Optional[str], List[str]] = {}
        self.remote_parents: Dict[str, str] = {}  # remote parent span id -> its child's label
        for sid, (_, _, s) in spans.items():
            parent = s.get("parentSpanId") or None
            children.setdefault(parent if parent in spans else None, []).append(sid)

        def start(sid: str) -> int:
            return int(spans[sid][2]["startTimeUnixNano"])

        self.labels: Dict[str, str] = {}
        order: List[str] = []

        def walk(sid: str, label: str) -> None:
            self.labels[sid] = label
            order.append(sid)
            seen: Dict[str, int] = {}
            for child in sorted(children.get(sid, []), key=start):
                name = spans[child][2]["name"]
                seen[name] = seen.get(name, 0) + 1
                walk(child, f"{label} > {name}" + (f" #{seen[name]}" if seen[name] > 1 else ""))

        for trace, root in enumerate(sorted(children.get(None, []), key=start)):
            walk(root, f"trace {trace}: {spans[root][2]['name']}")
            parent = spans[root][2].get("parentSpanId")
            if parent:
                self.remote_parents[parent] = self.labels[root]
        self.trace_ids = {sid: s["traceId"] for sid, (_, _, s) in spans.items()}
        self.views = {self.labels[sid]: self._view(*spans[sid]) for sid in order}

    def label(self, span_id: Optional[str]) -> Optional[str]:
        if not span_id:
            return None
        if span_id in self.remote_parents:
            return f"remote parent of {self.remote_parents[span_id]}"
        return self.labels.get(span_id, f"unknown span {span_id}")

    def exemplar_target(self, exemplar: dict) -> Tuple[bool, str]:
        """(whether the exemplar refers to a span of the run, in its trace; its label)."""
        span_id, trace_id = exemplar.get("spanId"), exemplar.get("traceId")
        label = self.label(span_id) or "no span"
        if span_id in self.remote_parents:
            known = True
        else:
            known = span_id in self.labels and self.trace_ids[span_id] == trace_id
        return known, label

    def _view(self, _resource: dict, scope: dict, s: dict) -> Dict[str, Any]:
        status = s.get("status", {})
        parent = s.get("parentSpanId")
        return {
            "name": s["name"],
            "kind": s.get("kind", 0),
            "scope": scope_view(scope),
            "parent": ("remote" if parent in self.remote_parents else "local") if parent else None,
            "remote_bits": int(s.get("flags", 0)) & REMOTE_BITS,
            "trace_state": s.get("traceState", ""),
            "attributes": self.normal.attributes(s),
            "dropped_attributes": s.get("droppedAttributesCount", 0),
            "status": (status.get("code", 0), status.get("message", "")),
            "events": [
                {"name": e["name"], "attributes": self.normal.attributes(e),
                 "dropped_attributes": e.get("droppedAttributesCount", 0)}
                for e in s.get("events", [])
            ],  # fmt: skip
            "dropped_events": s.get("droppedEventsCount", 0),
            "links": [
                {"to": self.label(l["spanId"]), "attributes": self.normal.attributes(l),
                 "dropped_attributes": l.get("droppedAttributesCount", 0), "trace_state": l.get("traceState", "")}
                for l in s.get("links", [])
            ],  # fmt: skip
            "dropped_links": s.get("droppedLinksCount", 0),
        }


# ---------------------------------------------------------------------------- metrics

MetricKey = Tuple[Tuple[str, str], str]  # (scope, metric name)


def metrics_of(
    received: Received, normal: Normaliser, spans: Spans, exact_exemplar_scopes: Tuple[str, ...]
) -> Dict[MetricKey, Dict[str, Any]]:
    """Per (scope, name): the metric's description, kind, unit, temporality, monotonicity and
    its points per attribute set: the latest cumulative point of each process, added up.
    Exemplars are compared exactly for the scopes named (instruments measured once per series
    or bucket), else only whether each refers to a span of the run."""
    latest: Dict[Tuple[MetricKey, str, Any], Tuple[int, dict]] = {}
    result: Dict[MetricKey, Dict[str, Any]] = {}
    for resource, scope, m in received.metrics:
        (kind,) = [k for k in ("sum", "gauge", "histogram") if k in m]
        data = m[kind]
        key = (scope_view(scope), m["name"])
        meta = {
            "description": m.get("description", ""),
            "unit": m.get("unit", ""),
            "kind": kind,
            "temporality": data.get("aggregationTemporality"),
            "monotonic": data.get("isMonotonic", False),
        }
        entry = result.setdefault(key, {**meta, "points": {}})
        assert {k: entry[k] for k in meta} == meta, f"{key}: two streams differ: {entry} / {meta}"
        process = json.dumps(resource, sort_keys=True)
        for p in data.get("dataPoints", []):
            attrs = freeze(normal.attributes(p))
            when = int(p.get("timeUnixNano", 0))
            slot = (key, process, attrs)
            if slot not in latest or latest[slot][0] <= when:
                latest[slot] = (when, p)
    for (key, _, attrs), (_, p) in sorted(latest.items(), key=lambda kv: (kv[0][0], kv[0][1], repr(kv[0][2]))):
        entry = result[key]
        point = point_view(entry["kind"], entry["unit"], p, spans)
        entry["points"][attrs] = add_points(entry["points"][attrs], point) if attrs in entry["points"] else point
    for (scope, _), entry in result.items():
        for point in entry["points"].values():
            if scope[0] in exact_exemplar_scopes:
                point["exemplars"] = sorted(point["exemplars"], key=repr)
            else:  # sampled: whether there are exemplars, and that each refers to a span of the run
                point["exemplars"] = sorted({"of a span of the run" if known else label for _, (known, label) in point["exemplars"]})
    return result


def point_view(kind: str, unit: str, p: dict, spans: Spans) -> Dict[str, Any]:
    if kind == "histogram":
        view: Dict[str, Any] = {"count": int(p.get("count", 0)), "bounds": p.get("explicitBounds", [])}
        if unit not in DURATION_UNITS:
            view.update(
                {"sum": p.get("sum"), "min": p.get("min"), "max": p.get("max"),
                 "buckets": [int(c) for c in p.get("bucketCounts", [])]}
            )  # fmt: skip
    else:
        view = {"value": otelcol.point_value(p)}
    view["exemplars"] = [(otelcol.point_value(e), spans.exemplar_target(e)) for e in p.get("exemplars", [])]
    return view


def add_points(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    """Two processes' points of one attribute set, as one."""
    out = dict(a)
    out["exemplars"] = a["exemplars"] + b["exemplars"]
    for k in ("value", "count", "sum"):
        if k in a:
            out[k] = a[k] + b[k]
    if "min" in a:
        out["min"], out["max"] = min(a["min"], b["min"]), max(a["max"], b["max"])
    if "buckets" in a:
        out["buckets"] = [x + y for x, y in zip(a["buckets"], b["buckets"])]
    return out


def freeze(attributes: Dict[str, Any]) -> Tuple:
    def f(v: Any) -> Any:
        if isinstance(v, list):
            return tuple(f(x) for x in v)
        if isinstance(v, dict):
            return tuple(sorted((k, f(x)) for k, x in v.items()))
        return v

    return tuple(sorted((k, f(v)) for k, v in attributes.items()))


# ---------------------------------------------------------------------------- logs


def logs_of(received: Received, normal: Normaliser, spans: Spans, by_time: bool) -> Dict[Tuple[str, str], List[Dict[str, Any]]]:
    """Per scope, its records in the order they arrived (by_time: ordered by their time, for
    several processes); the SDKs' own diagnostics left out."""
    records = [(scope, r) for _, scope, r in received.logs if not scope.get("name", "").startswith(SDK_SCOPES)]
    if by_time:
        records.sort(key=lambda item: int(item[1].get("timeUnixNano", 0)))
    result: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    for scope, r in records:
        span_id = r.get("spanId")
        result.setdefault(scope_view(scope), []).append(
            {
                "body": normal.value("body", otelcol.any_value(r["body"])) if "body" in r else None,
                "severity_number": r.get("severityNumber", 0),
                "severity_text": r.get("severityText", ""),
                "event_name": r.get("eventName", ""),
                "attributes": normal.attributes(r),
                "dropped_attributes": r.get("droppedAttributesCount", 0),
                "span": spans.label(span_id),
                "same_trace": (r.get("traceId") == spans.trace_ids.get(span_id)) if span_id else not r.get("traceId"),
                "trace_flags": int(r.get("flags", 0)) & 0xFF,
            }
        )
    return result


# ---------------------------------------------------------------------------- differences


def differences(official: Any, ours: Any, path: str) -> List[str]:
    """Every place where `ours` differs from `official`, one line each (long strings shown by
    their length and ends)."""
    if isinstance(official, dict) and isinstance(ours, dict):
        out = []
        for key in sorted(set(official) | set(ours), key=repr):
            where = f"{path}[{key!r}]"
            if key not in ours:
                out.append(f"{where}: only official: {short(official[key])}")
            elif key not in official:
                out.append(f"{where}: only ours: {short(ours[key])}")
            else:
                out.extend(differences(official[key], ours[key], where))
        return out
    if isinstance(official, list) and isinstance(ours, list):
        out = [f"{path}: {len(official)} items official, {len(ours)} ours"] if len(official) != len(ours) else []
        for i, (a, b) in enumerate(zip(official, ours)):
            out.extend(differences(a, b, f"{path}[{i}]"))
        return out
    if official != ours or type(official) is not type(ours):
        return [f"{path}: official {short(official)} != ours {short(ours)}"]
    return []


def short(value: Any) -> str:
    if isinstance(value, str) and len(value) > 160:
        return f"<{len(value)} chars: {value[:60]!r} ... {value[-60:]!r}>"
    text = repr(value)
    return text if len(text) <= 400 else text[:400] + "..."
