"""The resource of the telemetry a process writes.

Attributes, lowest precedence first:

1. ``telemetry.sdk.name`` (``otlp-mmap``), ``telemetry.sdk.language`` (``python``),
   ``telemetry.sdk.version``, ``process.pid``, ``process.runtime.name``,
   ``process.runtime.version``;
2. ``OTEL_RESOURCE_ATTRIBUTES`` (``key=value,key2=value2``, keys and values percent-decoded);
3. ``OTEL_SERVICE_NAME`` (sets ``service.name``);
4. the ``attributes`` given in code;
5. the ``service_name`` given in code.

``service.name`` defaults to ``unknown_service``, as the specification says. (The official
Python SDK appends ``:<executable name>``, e.g. ``unknown_service:python3``; we follow the
specification's text.)

Following the specification, a malformed ``OTEL_RESOURCE_ATTRIBUTES`` (an item without
``=``, an empty key, a bad percent escape or bytes that are not UTF-8) is discarded as a
whole, with a warning. (The official Python SDK skips the bad items only.)
"""

from __future__ import annotations

import logging
import os
import re
import sys
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional
from urllib.parse import unquote_to_bytes

from otlp_mmap import __version__
from otlp_mmap.sdk import _env

_logger = logging.getLogger("otlp_mmap.sdk")

SDK_NAME = "otlp-mmap"
DEFAULT_SERVICE_NAME = "unknown_service"
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


class Resource:
    """An immutable set of resource attributes (what the providers' ``resource`` returns)."""

    __slots__ = ("_attributes", "_schema_url")

    def __init__(self, attributes: Mapping[str, Any], schema_url: Optional[str] = None) -> None:
        self._attributes = MappingProxyType(dict(attributes))
        self._schema_url = schema_url

    @property
    def attributes(self) -> Mapping[str, Any]:
        return self._attributes

    @property
    def schema_url(self) -> Optional[str]:
        return self._schema_url

    def __repr__(self) -> str:
        return f"Resource({dict(self._attributes)!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Resource)
            and dict(self._attributes) == dict(other._attributes)
            and self._schema_url == other._schema_url
        )

    def __hash__(self) -> int:
        return hash((tuple(sorted(self._attributes.items(), key=lambda kv: kv[0])), self._schema_url))


def _decode(text: str) -> str:
    if _BAD_ESCAPE.search(text):
        raise ValueError(f"bad percent escape in {text!r}")
    return unquote_to_bytes(text).decode("utf-8")


def parse_resource_attributes(value: str) -> Dict[str, str]:
    """Parses an OTEL_RESOURCE_ATTRIBUTES value. Raises ValueError when it is malformed."""
    result: Dict[str, str] = {}
    value = value.strip()
    if not value:
        return result
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ValueError(f"{item!r} is not key=value")
        key, _, val = item.partition("=")
        key = _decode(key.strip())
        if not key:
            raise ValueError(f"{item!r} has an empty key")
        result[key] = _decode(val.strip())
    return result


def process_attributes() -> Dict[str, Any]:
    """The attributes that describe this process (pid changes in a forked child)."""
    impl = sys.implementation
    version = impl.version
    return {
        "process.pid": os.getpid(),
        "process.runtime.name": impl.name,
        "process.runtime.version": f"{version.major}.{version.minor}.{version.micro}",
    }


def build_resource_attributes(
    service_name: Optional[str] = None,
    attributes: Optional[Mapping[str, Any]] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Dict[str, Any]:
    """The resource attributes of this process (see the module's documentation)."""
    env = environ if environ is not None else os.environ
    result: Dict[str, Any] = {
        "telemetry.sdk.name": SDK_NAME,
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": __version__,
    }
    result.update(process_attributes())
    raw = env.get(_env.OTEL_RESOURCE_ATTRIBUTES, "")
    if raw.strip():
        try:
            result.update(parse_resource_attributes(raw))
        except (ValueError, UnicodeDecodeError) as exc:
            _logger.warning("OTEL_RESOURCE_ATTRIBUTES is malformed and is ignored: %s", exc)
    env_service = env.get(_env.OTEL_SERVICE_NAME, "").strip()
    if env_service:
        result["service.name"] = env_service
    if attributes:
        for key, value in dict(attributes).items():
            if isinstance(key, str) and key and value is not None:
                result[key] = value
    if service_name:
        result["service.name"] = service_name
    if not result.get("service.name"):
        result["service.name"] = DEFAULT_SERVICE_NAME
    return result


def clean_attributes(attributes: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Attributes the writer accepts for resources and scopes: str keys; scalar or
    homogeneous-list values. Anything else is dropped with a warning."""
    result: Dict[str, Any] = {}
    if not attributes:
        return result
    try:
        items = list(dict(attributes).items())
    except Exception:  # pylint: disable=broad-except
        _logger.warning("scope or resource attributes must be a mapping; ignored")
        return result
    for key, value in items:
        if not isinstance(key, str) or not key:
            _logger.warning("invalid attribute key %r dropped", key)
            continue
        if isinstance(value, (str, bool, int, float, bytes)):
            if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
                _logger.warning("attribute %r: int out of 64-bit range dropped", key)
                continue
            result[key] = value
        elif isinstance(value, (list, tuple)) and all(
            isinstance(v, (str, bool, int, float, bytes)) for v in value
        ) and len({type(v) for v in value}) <= 1:
            result[key] = list(value)
        else:
            _logger.warning("attribute %r: unsupported value of type %s dropped", key, type(value).__name__)
    return result
