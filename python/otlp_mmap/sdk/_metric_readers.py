"""``MeterProvider(metric_readers=[...])``: official MetricReaders (``InMemoryMetricReader``,
``PeriodicExportingMetricReader`` with any exporter, ``PrometheusMetricReader``) receive the
measurements too.

A provider given readers keeps a shadow ``opentelemetry.sdk.metrics.MeterProvider`` with
those readers, the same views, the same resource and exemplar filter. Every instrument of
ours has a twin in it, fed by ours: a synchronous measurement goes into the file (the
native path) and then to the twin; an observable twin's callback runs our instrument's
callbacks (as the official SDK does for each of its readers, a callback runs once per
collection of each consumer: our collection interval, and each reader's collect). The
readers aggregate and export as under the official SDK, whose output they give.

Only instruments of a provider with readers pay for it (one Python call per measurement, and
the official SDK's own cost); opentelemetry-sdk is imported only then.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional, Sequence

_logger = logging.getLogger("otlp_mmap.sdk")


def _exemplar_filter(name: str) -> Any:
    from opentelemetry.sdk.metrics import (  # noqa: PLC0415
        AlwaysOffExemplarFilter,
        AlwaysOnExemplarFilter,
        TraceBasedExemplarFilter,
    )

    return {"always_on": AlwaysOnExemplarFilter, "always_off": AlwaysOffExemplarFilter}.get(
        name, TraceBasedExemplarFilter
    )()


class Shadow:
    """The official MeterProvider the readers are registered with."""

    def __init__(
        self,
        readers: Sequence[Any],
        views: Sequence[Any],
        attributes: Mapping[str, Any],
        schema_url: Optional[str],
        exemplar_filter: str,
    ) -> None:
        from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider  # noqa: PLC0415
        from opentelemetry.sdk.resources import Resource as SdkResource  # noqa: PLC0415

        self.provider = SdkMeterProvider(
            metric_readers=list(readers),
            resource=SdkResource(dict(attributes), schema_url),
            exemplar_filter=_exemplar_filter(exemplar_filter),
            shutdown_on_exit=False,
            views=list(views),
        )

    def meter(self, name: str, version: Optional[str], schema_url: Optional[str], attributes: Any) -> Any:
        try:
            return self.provider.get_meter(name, version, schema_url, attributes)
        except Exception:  # pylint: disable=broad-except
            _logger.warning("otlp_mmap: the metric readers' meter %r could not be made", name, exc_info=True)
            return None

    @staticmethod
    def instrument(
        meter: Any, kind: str, name: str, unit: str, description: str, advisory: Any, collect: Any
    ) -> Any:
        """The twin of one of our instruments (None when it cannot be made)."""
        if meter is None:
            return None
        try:
            if kind == "histogram":
                return meter.create_histogram(
                    name, unit, description, explicit_bucket_boundaries_advisory=advisory
                )
            if kind.startswith("observable_"):
                return getattr(meter, f"create_{kind}")(name, [collect], unit, description)
            return getattr(meter, f"create_{kind}")(name, unit, description)
        except Exception:  # pylint: disable=broad-except
            _logger.warning("otlp_mmap: the metric readers' twin of %r could not be made", name, exc_info=True)
            return None

    def force_flush(self, timeout_millis: float) -> bool:
        try:
            return bool(self.provider.force_flush(timeout_millis))
        except Exception:  # pylint: disable=broad-except
            _logger.warning("otlp_mmap: force_flush of the metric readers failed", exc_info=True)
            return False

    def shutdown(self, timeout_millis: float) -> None:
        try:
            self.provider.shutdown(timeout_millis)
        except Exception:  # pylint: disable=broad-except
            _logger.warning("otlp_mmap: shutdown of the metric readers failed", exc_info=True)


def make_shadow(
    readers: Any, views: Sequence[Any], attributes: Mapping[str, Any], schema_url: Optional[str], exemplar_filter: str
) -> Optional[Shadow]:
    """The shadow provider of these readers; None (and one warning) when there are none or
    it cannot be made (opentelemetry-sdk missing, a reader already registered elsewhere)."""
    try:
        readers = list(readers or ())
    except TypeError:
        _logger.warning("otlp_mmap: MeterProvider(metric_readers=%r) is not a sequence; ignored", readers)
        return None
    if not readers:
        return None
    try:
        return Shadow(readers, views, attributes, schema_url, exemplar_filter)
    except ImportError:
        _logger.warning(
            "otlp_mmap: metric_readers need opentelemetry-sdk (pip install 'otlp-mmap[sdk]'); the readers get nothing"
        )
    except Exception:  # pylint: disable=broad-except
        _logger.warning("otlp_mmap: the metric readers could not be set up; they get nothing", exc_info=True)
    return None
