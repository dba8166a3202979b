"""The resource of the telemetry a process writes.

Attributes, lowest precedence first:

1. ``telemetry.sdk.name`` (``otlp-mmap``), ``telemetry.sdk.language`` (``python``),
   ``telemetry.sdk.version``, ``process.pid``, ``process.runtime.name``,
   ``process.runtime.version``;
2. ``service.instance.id``: a random UUID (version 4) per process, the same for every
   provider of the process; a forked child gets its own (as the official SDK's
   ``service_instance`` detector does);
3. the resource detectors named in ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS`` (a comma
   list, in its order; see below);
4. ``OTEL_RESOURCE_ATTRIBUTES`` (``key=value,key2=value2``, keys and values percent-decoded);
5. ``OTEL_SERVICE_NAME`` (sets ``service.name``);
6. the ``attributes`` given in code;
7. the ``service_name`` given in code.

A provider given ``resource=`` (an official ``opentelemetry.sdk.resources.Resource``, or
ours) uses exactly its attributes instead, as the official SDK does.

Resource detectors (``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS``), as the official SDK reads
them: ``otel`` (``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME``; always applied, last
unless listed elsewhere), ``service_instance`` (always applied, first unless listed) and
``process`` (``process.executable.name``/``.path``, ``process.command``,
``process.command_args``, ``process.owner``, ``process.parent_pid``,
``process.runtime.description``) are built in; any other name is an entry point of group
``opentelemetry_resource_detector`` (``os`` and ``host`` of opentelemetry-sdk, which the
``sdk`` extra installs; the detectors of opentelemetry-resource-detector-* packages; ``*``
for all of them). A name that is not found, or a detector that fails or takes longer than 5
seconds, gives one warning and is skipped: set-up never raises. Detectors run once per
process (their result is shared by the providers).

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
import threading
import uuid
from types import MappingProxyType
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import unquote_to_bytes

from otlp_mmap import __version__
from otlp_mmap.sdk import _env

_logger = logging.getLogger("otlp_mmap.sdk")

SDK_NAME = "otlp-mmap"
DEFAULT_SERVICE_NAME = "unknown_service"
SERVICE_INSTANCE_ID = "service.instance.id"
OTEL_EXPERIMENTAL_RESOURCE_DETECTORS = "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS"
DETECTOR_GROUP = "opentelemetry_resource_detector"
DETECTOR_TIMEOUT_SECONDS = 5.0
BUILTIN_DETECTORS = ("otel", "service_instance", "process")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


class Resource:
    """An immutable set of resource attributes (what the providers' ``resource`` returns)."""

    __slots__ = ("_attributes", "_schema_url")

    def __init__(self, attributes: Mapping[str, Any], schema_url: Optional[str] = None) -> None:
        self._attributes = MappingProxyType(dict(attributes))
        self._schema_url = schema_url

    @staticmethod
    def create(attributes: Optional[Mapping[str, Any]] = None, schema_url: Optional[str] = None) -> "Resource":
        """The process's resource (detectors and environment, see the module) with
        ``attributes`` on top, as ``opentelemetry.sdk.resources.Resource.create``."""
        return Resource(build_resource_attributes(attributes=attributes), schema_url)

    @staticmethod
    def get_empty() -> "Resource":
        return Resource({})

    def merge(self, other: "Resource") -> "Resource":
        """A new resource: ``other``'s attributes win; its schema URL is used when ours is empty."""
        attributes = dict(self._attributes)
        attributes.update(other.attributes)
        return Resource(attributes, self._schema_url or getattr(other, "schema_url", None) or None)

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


_instance_lock = threading.Lock()
_instance: Tuple[int, str] = (0, "")


def service_instance_id() -> str:
    """This process's ``service.instance.id``: a random UUID made on first use, the same for
    the life of the process; a forked child makes its own."""
    global _instance  # pylint: disable=global-statement
    pid = os.getpid()
    with _instance_lock:
        if _instance[0] != pid:
            _instance = (pid, str(uuid.uuid4()))
        return _instance[1]


def process_attributes() -> Dict[str, Any]:
    """The attributes that change in a forked child: ``process.pid`` and
    ``service.instance.id`` (the providers put them on their resource again after a fork, so
    a child's telemetry is told from its parent's, as with the official SDK)."""
    return {"process.pid": os.getpid(), SERVICE_INSTANCE_ID: service_instance_id()}


def _runtime_attributes() -> Dict[str, Any]:
    impl = sys.implementation
    version = impl.version
    return {
        "process.runtime.name": impl.name,
        "process.runtime.version": f"{version.major}.{version.minor}.{version.micro}",
    }


def _detect_process() -> Dict[str, Any]:
    """The built-in ``process`` detector (semantic conventions' process attributes)."""
    result: Dict[str, Any] = {"process.parent_pid": os.getppid()}
    executable = sys.executable or ""
    if executable:
        result["process.executable.path"] = executable
        result["process.executable.name"] = os.path.basename(executable)
    argv = [str(a) for a in (getattr(sys, "orig_argv", None) or [executable, *sys.argv])]
    if argv and argv[0]:
        result["process.command"] = argv[0]
        result["process.command_args"] = argv
    try:
        import pwd  # noqa: PLC0415  (POSIX only)

        result["process.owner"] = pwd.getpwuid(os.getuid()).pw_name
    except Exception:  # pylint: disable=broad-except
        pass
    result["process.runtime.description"] = sys.version
    return result


def detector_names(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """The detectors to run, in order (the official SDK's rule: ``service_instance`` first and
    ``otel`` last unless the variable places them)."""
    env = environ if environ is not None else os.environ
    configured = [n.strip() for n in env.get(OTEL_EXPERIMENTAL_RESOURCE_DETECTORS, "").split(",") if n.strip()]
    head = [] if "service_instance" in configured else ["service_instance"]
    return list(dict.fromkeys(head + configured + ["otel"]))


def _entry_points(name: Optional[str] = None) -> List[Any]:
    return _env.entry_points(DETECTOR_GROUP, name)


def _run_with_timeout(function: Any, timeout: float) -> Tuple[bool, Any]:
    """(finished, result or exception) of function() on a daemon thread."""
    box: List[Any] = []

    def run() -> None:
        try:
            box.append((True, function()))
        except BaseException as exc:  # pylint: disable=broad-except
            box.append((False, exc))

    thread = threading.Thread(target=run, name="otlp_mmap-resource-detector", daemon=True)
    thread.start()
    thread.join(timeout)
    if not box:
        return False, None
    ok, value = box[0]
    if not ok:
        raise value
    return True, value


def _detect_entry_point(name: str) -> Dict[str, Any]:
    """The attributes an ``opentelemetry_resource_detector`` entry point detects; {} and one
    warning when it is missing or fails."""
    try:
        found = _entry_points(name)
    except Exception as exc:  # pylint: disable=broad-except
        found = []
        _logger.debug("entry points of %s: %s", DETECTOR_GROUP, exc)
    if not found:
        try:
            available = sorted({*BUILTIN_DETECTORS, *(ep.name for ep in _entry_points())})
        except Exception:  # pylint: disable=broad-except
            available = list(BUILTIN_DETECTORS)
        _env.warn_once(
            f"detector-missing:{name}",
            "otlp_mmap: resource detector %r (OTEL_EXPERIMENTAL_RESOURCE_DETECTORS) is not installed and is skipped; "
            "available: %s (os and host come with opentelemetry-sdk: pip install 'otlp-mmap[sdk]')",
            name,
            ", ".join(available),
        )
        return {}
    try:
        detector = found[0].load()()
        finished, resource = _run_with_timeout(detector.detect, DETECTOR_TIMEOUT_SECONDS)
        if not finished:
            _env.warn_once(
                f"detector-timeout:{name}",
                "otlp_mmap: resource detector %r took longer than %s seconds and is skipped",
                name,
                DETECTOR_TIMEOUT_SECONDS,
            )
            return {}
        return dict(getattr(resource, "attributes", None) or {})
    except Exception as exc:  # pylint: disable=broad-except
        _env.warn_once(
            f"detector-failed:{name}", "otlp_mmap: resource detector %r failed and is skipped: %r", name, exc
        )
        return {}


_detected_lock = threading.Lock()
_detected: Dict[Tuple[int, str], Dict[str, Any]] = {}


def _detected_attributes(name: str) -> Dict[str, Any]:
    """What a detector other than ``otel`` detects, once per process."""
    if name == "service_instance":
        return {SERVICE_INSTANCE_ID: service_instance_id()}
    key = (os.getpid(), name)
    with _detected_lock:
        cached = _detected.get(key)
    if cached is not None:
        return cached
    if name == "process":
        result = _detect_process()
    else:
        result = _detect_entry_point(name)
    with _detected_lock:
        _detected[key] = result
    return result


def _otel_attributes(env: Mapping[str, str]) -> Dict[str, Any]:
    result: Dict[str, Any] = {}
    raw = env.get(_env.OTEL_RESOURCE_ATTRIBUTES, "")
    if raw.strip():
        try:
            result.update(parse_resource_attributes(raw))
        except (ValueError, UnicodeDecodeError) as exc:
            _logger.warning("OTEL_RESOURCE_ATTRIBUTES is malformed and is ignored: %s", exc)
    env_service = env.get(_env.OTEL_SERVICE_NAME, "").strip()
    if env_service:
        result["service.name"] = env_service
    return result


def resource_like(value: Any) -> bool:
    """True for a Resource (ours, the official SDK's, or any object with ``attributes`` that is
    not itself a mapping)."""
    return not isinstance(value, Mapping) and hasattr(value, "attributes")


def build_resource_attributes(
    service_name: Optional[str] = None,
    attributes: Optional[Mapping[str, Any]] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Dict[str, Any]:
    """The resource attributes of this process (see the module's documentation).

    ``attributes`` may also be a Resource (a provider's ``resource=``): its attributes are
    then used exactly, as given."""
    if resource_like(attributes):
        try:
            return dict(attributes.attributes)  # type: ignore[union-attr]
        except Exception:  # pylint: disable=broad-except
            _logger.warning("otlp_mmap: resource %r has unreadable attributes; using the default resource", attributes)
            attributes = None
    env = environ if environ is not None else os.environ
    result: Dict[str, Any] = {
        "telemetry.sdk.name": SDK_NAME,
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": __version__,
        "process.pid": os.getpid(),
    }
    result.update(_runtime_attributes())
    for name in detector_names(env):
        if name == "otel":
            result.update(_otel_attributes(env))
        elif name == "*":
            try:
                names = sorted({ep.name for ep in _entry_points()} - {"otel"} - set(detector_names(env)))
            except Exception:  # pylint: disable=broad-except
                names = []
            for other in names:
                result.update(_detected_attributes(other))
        else:
            result.update(_detected_attributes(name))
    if attributes:
        for key, value in dict(attributes).items():
            if isinstance(key, str) and key and value is not None:
                result[key] = value
    if service_name:
        result["service.name"] = service_name
    if not result.get("service.name"):
        result["service.name"] = DEFAULT_SERVICE_NAME
    return result
