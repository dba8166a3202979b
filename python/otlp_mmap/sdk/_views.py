"""Views (``MeterProvider(views=[opentelemetry.sdk.metrics.view.View(...)])``): which metric
streams an instrument gets, resolved once, when the instrument is created.

An instrument matches a view when every selection criterion the view has holds (the
official SDK's rules): ``instrument_type`` (the instrument is of that class: the official
SDK's classes or the API's), ``instrument_name`` (``fnmatch`` wildcards ``*`` and ``?``,
case-insensitive), ``instrument_unit`` (wildcards), ``meter_name``, ``meter_version``,
``meter_schema_url`` (exact). Each matching view gives one stream (so two matching views
give two streams); an instrument that no view matches gets its default stream. A stream
takes the view's ``name`` and ``description`` (else the instrument's), its
``attribute_keys`` (only those attribute keys are kept; applied at record time) and its
aggregation, written into the file's ``MetricRef``:

=======================================  =================================================
view aggregation                         stream in the file
=======================================  =================================================
``DefaultAggregation`` (or none)         the instrument's default (see ``metrics``)
``SumAggregation``                       sum; DELTA for synchronous instruments (each
                                         measurement adds), CUMULATIVE for observable ones
                                         (each observation is a total); monotonic for
                                         Counter and ObservableCounter
``LastValueAggregation``                 gauge
``ExplicitBucketHistogramAggregation``   explicit histogram with the view's boundaries
                                         (else the advisory ones, else the defaults)
``ExponentialBucketHistogramAggregation``  exp_histogram with ``max_size`` as max_buckets
                                         and ``max_scale``
``DropAggregation``                      no stream (all dropped: a no-op instrument)
=======================================  =================================================

Views are the official SDK's ``View`` objects (their constructor arguments are read); this
module imports opentelemetry-sdk only when views are given.
"""

from __future__ import annotations

import logging
from fnmatch import fnmatchcase
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

from otlp_mmap import CUMULATIVE, DELTA

_logger = logging.getLogger("otlp_mmap.sdk")

_SYNC_KINDS = ("counter", "up_down_counter", "histogram", "gauge")

# Our instrument kinds and the official SDK's instrument classes.
_SDK_CLASS_NAMES = {
    "counter": "Counter",
    "up_down_counter": "UpDownCounter",
    "histogram": "Histogram",
    "gauge": "_Gauge",
    "observable_counter": "ObservableCounter",
    "observable_up_down_counter": "ObservableUpDownCounter",
    "observable_gauge": "ObservableGauge",
}


class Stream:
    """One metric stream of an instrument: what is written into the file's MetricRef, and
    the attribute keys kept (None: all)."""

    __slots__ = ("name", "description", "aggregation", "attribute_keys")

    def __init__(
        self, name: str, description: str, aggregation: Dict[str, Any], attribute_keys: Optional[FrozenSet[str]]
    ) -> None:
        self.name = name
        self.description = description
        self.aggregation = aggregation
        self.attribute_keys = attribute_keys

    def __repr__(self) -> str:
        return f"Stream({self.name!r}, {self.aggregation!r}, keys={self.attribute_keys!r})"


def _sdk_class(kind: str) -> Optional[type]:
    try:
        import opentelemetry.sdk.metrics as sdk_metrics  # noqa: PLC0415
    except ImportError:
        return None
    return getattr(sdk_metrics, _SDK_CLASS_NAMES[kind], None)


def _api_class(kind: str) -> Optional[type]:
    from opentelemetry import metrics as metrics_api  # noqa: PLC0415

    name = _SDK_CLASS_NAMES[kind]
    return getattr(metrics_api, name, None) or getattr(metrics_api, name.lstrip("_"), None)


def _type_matches(kind: str, wanted: Any) -> bool:
    for cls in (_sdk_class(kind), _api_class(kind)):
        try:
            if cls is not None and issubclass(cls, wanted):
                return True
        except TypeError:
            return False
    return False


def matches(
    view: Any, kind: str, name: str, unit: str, scope: Tuple[str, Optional[str], Optional[str]]
) -> bool:
    """The official View's selection rules."""
    get = view.__dict__.get
    wanted_type = get("_instrument_type")
    if wanted_type is not None and not _type_matches(kind, wanted_type):
        return False
    wanted_name = get("_instrument_name")
    if wanted_name is not None and not fnmatchcase(name.lower(), str(wanted_name).lower()):
        return False
    wanted_unit = get("_instrument_unit")
    if wanted_unit is not None and not fnmatchcase(unit, str(wanted_unit)):
        return False
    meter_name, meter_version, meter_schema_url = scope
    if get("_meter_name") is not None and meter_name != get("_meter_name"):
        return False
    if get("_meter_version") is not None and meter_version != get("_meter_version"):
        return False
    if get("_meter_schema_url") is not None and meter_schema_url != get("_meter_schema_url"):
        return False
    return True


def _aggregation_of(
    aggregation: Any, kind: str, default: Dict[str, Any], advisory_boundaries: Sequence[float], boundaries: Any
) -> Optional[Dict[str, Any]]:
    """The file's aggregation for a view aggregation; None for DropAggregation."""
    kind_name = type(aggregation).__name__
    synchronous = kind in _SYNC_KINDS
    if aggregation is None or kind_name == "DefaultAggregation":
        return default
    if kind_name == "DropAggregation":
        return None
    if kind_name == "SumAggregation":
        return {
            "sum": {
                "aggregation_temporality": DELTA if synchronous else CUMULATIVE,
                "is_monotonic": kind in ("counter", "observable_counter"),
            }
        }
    if kind_name == "LastValueAggregation":
        return {"gauge": {}}
    if kind_name == "ExplicitBucketHistogramAggregation":
        wanted = getattr(aggregation, "_boundaries", None)
        bounds = boundaries(wanted) if wanted is not None else tuple(advisory_boundaries)
        return {"histogram": {"aggregation_temporality": DELTA, "bucket_boundaries": list(bounds)}}
    if kind_name == "ExponentialBucketHistogramAggregation":
        return {
            "exp_histogram": {
                "aggregation_temporality": DELTA,
                "max_buckets": int(getattr(aggregation, "_max_size", 160)),
                "max_scale": int(getattr(aggregation, "_max_scale", 20)),
            }
        }
    _logger.warning("otlp_mmap: view aggregation %s is not supported; using the default aggregation", kind_name)
    return default


def resolve(
    views: Sequence[Any],
    kind: str,
    name: str,
    unit: str,
    description: str,
    scope: Tuple[str, Optional[str], Optional[str]],
    default: Dict[str, Any],
    advisory_boundaries: Sequence[float],
    boundaries: Any,
) -> List[Stream]:
    """The streams of an instrument (an empty list: every matching view drops it)."""
    if not views:
        return [Stream(name, description, default, None)]
    streams: List[Stream] = []
    matched = False
    for view in views:
        try:
            if not matches(view, kind, name, unit, scope):
                continue
        except Exception:  # pylint: disable=broad-except
            _logger.warning("otlp_mmap: view %r cannot be matched and is ignored", view, exc_info=True)
            continue
        matched = True
        get = view.__dict__.get
        aggregation = _aggregation_of(get("_aggregation"), kind, default, advisory_boundaries, boundaries)
        if aggregation is None:
            continue
        keys = get("_attribute_keys")
        streams.append(
            Stream(
                str(get("_name")) if get("_name") else name,  # a view's name as given (official)
                description if get("_description") is None else str(get("_description")),
                aggregation,
                None if keys is None else frozenset(str(k) for k in keys),
            )
        )
    if not matched:
        return [Stream(name, description, default, None)]
    return streams


def check_views(views: Any) -> List[Any]:
    """The views given to a MeterProvider, as a list (anything that is not a View: warned
    about and left out)."""
    if views is None:
        return []
    try:
        result = list(views)
    except TypeError:
        _logger.warning("otlp_mmap: MeterProvider(views=%r) is not a sequence of View; ignored", views)
        return []
    kept = []
    for view in result:
        if hasattr(view, "__dict__") and "_aggregation" in view.__dict__:
            kept.append(view)
        else:
            _logger.warning("otlp_mmap: %r is not an opentelemetry.sdk.metrics.view.View; ignored", view)
    return kept


def filter_attributes(attributes: Any, keys: FrozenSet[str]) -> Any:
    if not attributes:
        return attributes
    return {k: v for k, v in attributes.items() if k in keys}
