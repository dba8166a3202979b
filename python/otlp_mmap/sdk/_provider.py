"""What the three providers share: the telemetry file, the resource, shutdown and fork
handling.

One ``Writer`` per file is shared by every provider of the process (the native core shares
one mapping per file anyway). In a forked child (``os.register_at_fork``) every writer is
told (``Writer.after_fork_in_child``), then every live provider builds a new resource with
the child's ``process.pid`` and re-creates its scopes and metric streams; the metric
collection thread is restarted.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import threading
import weakref
from typing import Any, Dict, Mapping, Optional, Set, Tuple, Union

from otlp_mmap._native import Writer
from otlp_mmap.sdk import _env
from otlp_mmap.sdk.resources import (
    Resource,
    build_resource_attributes,
    process_attributes,
    resource_like,
)

_logger = logging.getLogger("otlp_mmap.sdk")

PathLike = Union[str, "os.PathLike[str]"]


def text(value: Optional[str]) -> Optional[str]:
    """A str the writer can encode: lone surrogates are replaced, so names never raise."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")


def _freeze(value: Any) -> Any:
    """A hashable, order-independent form of an attribute value or mapping."""
    if isinstance(value, Mapping):
        return tuple(sorted(((str(k), _freeze(v)) for k, v in value.items()), key=lambda kv: kv[0]))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


ScopeKey = Tuple[str, Optional[str], Optional[str], Any]


def scope_key(name: Any, version: Optional[str], schema_url: Optional[str], attributes: Any) -> ScopeKey:
    """The cache key of a tracer, meter or logger: equal scopes give equal keys (attribute
    order ignored); unhashable attributes fall back to the identity of the mapping."""
    if not isinstance(name, str):
        name = ""
    try:
        key: ScopeKey = (name, version, schema_url, _freeze(attributes))
        hash(key)
    except TypeError:
        key = (name, version, schema_url, id(attributes))
    return key


class ConfigurationError(ValueError):
    """The SDK cannot start: no telemetry file, or a file that cannot be used."""


_writers: Dict[str, Writer] = {}
_writers_lock = threading.Lock()
_providers: "weakref.WeakSet[ProviderBase]" = weakref.WeakSet()


def resolve_file(file: Optional[PathLike]) -> str:
    """The telemetry file: the argument, else SDK_MMAP_EXPORTER_FILE."""
    if file is not None:
        path = os.fspath(file)
    else:
        path = os.environ.get(_env.SDK_MMAP_EXPORTER_FILE, "").strip()
    if not path:
        raise ConfigurationError(
            "otlp_mmap: no telemetry file. Pass file=... (otlp_mmap.configure(file=...) or a provider's "
            "constructor) or set SDK_MMAP_EXPORTER_FILE to the path of the otlp-mmap file."
        )
    return str(path)


def open_writer(file: Optional[PathLike]) -> Writer:
    """The process's Writer of the telemetry file (created on first use). Raises
    ConfigurationError (from the native error) when there is no file or it cannot be used."""
    path = resolve_file(file)
    key = os.path.realpath(path)
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            before = _set_aside_files(path)
            try:
                writer = Writer(path)
            except (OSError, ValueError) as exc:
                reason, fix = explain(exc)
                raise ConfigurationError(
                    f"otlp_mmap: cannot open the telemetry file {path!r}: {reason} ({exc}). {fix}"
                ) from exc
            _writers[key] = writer
            _report_replaced_file(writer, path, before)
    return writer


class NoWriter:
    """A ``writer=`` value: the set-up failed already (configure() warned); the provider is a
    no-op whose ``setup_error`` is ``reason``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def open_writer_or_none(file: Optional[PathLike], strict: bool) -> Tuple[Optional[Writer], Optional[str]]:
    """open_writer(), except that outside strict mode a failure gives (None, message) and ONE
    warning per process for that path and reason, instead of raising into the application."""
    try:
        return open_writer(file), None
    except ConfigurationError as exc:
        if strict:
            raise
        message = str(exc).rstrip(".")
        cause = exc.__cause__
        path = "" if file is None else os.fspath(file)
        key = f"setup:{path or os.environ.get(_env.SDK_MMAP_EXPORTER_FILE, '')}:{type(cause).__name__}"
        _env.warn_once(
            key,
            "%s. Telemetry is OFF for this process: the SDK runs as a no-op (set OTLP_MMAP_STRICT=true, or "
            "configure(strict=True), to raise instead).",
            message,
        )
        return None, message
    except Exception as exc:  # pylint: disable=broad-except  (anything else the native module may raise)
        if strict:
            raise
        message = f"otlp_mmap: cannot open the telemetry file ({type(exc).__name__}: {exc})"
        _env.warn_once(
            f"setup-unexpected:{type(exc).__name__}",
            "%s. Telemetry is OFF for this process: the SDK runs as a no-op (set OTLP_MMAP_STRICT=true to raise "
            "instead).",
            message,
            exc_info=True,
        )
        return None, message


def explain(exc: BaseException) -> Tuple[str, str]:
    """Why the native writer refused a file, and what to do about it."""
    # Local import: FormatError and NotInitializedError are ValueError subclasses.
    from otlp_mmap._native import FormatError, NotInitializedError  # noqa: PLC0415

    if isinstance(exc, NotInitializedError):
        return (
            "another process is still initialising it",
            "Start the application again, or check for a writer that died while creating the file.",
        )
    if isinstance(exc, FormatError):
        return (
            "it is not a usable otlp-mmap file (another file, a corrupt file or an unsupported version)",
            "Remove it or set SDK_MMAP_EXPORTER_FILE to another path; otlp-mmap never overwrites a file "
            "it does not recognise.",
        )
    if isinstance(exc, FileNotFoundError):
        return (
            "its directory does not exist (or the path is a dangling symlink)",
            "Create the directory, or set SDK_MMAP_EXPORTER_FILE to a path in an existing directory.",
        )
    if isinstance(exc, PermissionError):
        return (
            "it is not trusted or not accessible (owned by another user, group- or world-writable, a symlink, "
            "or no permission)",
            "Use a file this user owns with mode 0600 (or remove it to let the writer create one), and a "
            "plain path rather than a symlink.",
        )
    text = str(exc)
    no_space = any(m in text for m in (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT), "no space"))
    if isinstance(exc, OSError) and (exc.errno in (errno.ENOSPC, errno.EDQUOT) or no_space):
        return (
            "the filesystem has no space for it",
            "Free space, use a larger filesystem, or make the file smaller (OTLP_MMAP_*_SLOTS, "
            "OTLP_MMAP_DICTIONARY_*_BYTES).",
        )
    if isinstance(exc, OSError):
        return ("the system refused it", "Check the path and the filesystem.")
    return ("a setting is not valid", "Fix the OTLP_MMAP_* setting named above.")


def _writer_fact(writer: Any, name: str) -> Any:
    """An attribute of a (newer) native Writer, or the same key of its geometry; None when
    this native module does not tell."""
    try:
        value = getattr(writer, name, None)
        if value is None:
            geometry = getattr(writer, "geometry", None)
            if isinstance(geometry, dict):
                value = geometry.get(name)
        return value() if callable(value) else value
    except Exception:  # pylint: disable=broad-except
        return None


_ASIDE_KINDS = (".corrupt-", ".full-")


def _set_aside_files(path: str) -> Optional[Set[str]]:
    """Names of the files the native writer sets aside next to `path` (``<name>.corrupt-<time>``,
    ``<name>.full-<time>``), or None when the directory cannot be listed."""
    directory, name = os.path.split(os.path.abspath(path))
    try:
        return {f for f in os.listdir(directory) if f.startswith(name) and f[len(name):].startswith(_ASIDE_KINDS)}
    except OSError:
        return None


def _report_replaced_file(writer: Any, path: str, before: Optional[Set[str]] = None) -> None:
    """The native writer may have replaced what it found at the path by a fresh file: a
    broken file of ours is moved aside (``<path>.corrupt-<time>``), a file whose dictionary
    is full is replaced (kept as ``<path>.full-<time>`` when it still holds unread
    records). Say so once, with the old file's new name. The native Writer's
    ``moved_aside_path`` / ``rolled_over`` / ``full_file_path`` tell when it has them;
    otherwise the files set aside next to the path while it was opened (``before``: those
    there before) do."""
    moved = _writer_fact(writer, "moved_aside_path")
    rolled = _writer_fact(writer, "rolled_over")
    kept = _writer_fact(writer, "full_file_path")
    if moved is None and rolled is None and before is not None:
        after = _set_aside_files(path) or set()
        directory = os.path.dirname(os.path.abspath(path))
        for new in sorted(after - before):
            full = os.path.join(directory, new)
            if ".corrupt-" in new[len(os.path.basename(path)):]:
                moved = full
            else:
                rolled, kept = True, full
    if moved:
        reason = _writer_fact(writer, "moved_aside_reason")
        _env.warn_once(
            f"moved:{path}:{moved}",
            "otlp_mmap: the telemetry file %r was a broken otlp-mmap file%s; it was kept as %r (for inspection: "
            "`otlp-mmap inspect`) and a fresh file was created in its place",
            path,
            f" ({reason})" if reason else "",
            str(moved),
        )
    if rolled:
        _env.warn_once(
            f"rolled:{path}:{kept}",
            "otlp_mmap: the dictionary of the telemetry file %r was full; a fresh file was created in its place%s",
            path,
            f" and the full one, which still holds unread records, was kept as {str(kept)!r}" if kept else "",
        )


class ProviderBase:
    """File, resource, lifecycle."""

    def __init__(
        self,
        file: Optional[PathLike] = None,
        *,
        service_name: Optional[str] = None,
        resource_attributes: Optional[Mapping[str, Any]] = None,
        schema_url: Optional[str] = None,
        writer: Optional[Writer] = None,
        shutdown_on_exit: bool = True,
        strict: Optional[bool] = None,
        resource: Any = None,
    ) -> None:
        if resource is not None and resource_like(resource):
            # The official SDK's resource=: used exactly (its schema URL too).
            resource_attributes = resource
            schema_url = schema_url or getattr(resource, "schema_url", None) or None
        elif resource is not None:
            _logger.warning("%s(resource=%r): not a Resource; using the default resource", type(self).__name__,
                            resource)
        self._lock = threading.RLock()
        self._is_shutdown = False
        self._disabled = _env.sdk_disabled()
        self._setup_error: Optional[str] = None
        self._schema_url = schema_url
        self._resource = Resource(build_resource_attributes(service_name, resource_attributes), schema_url)
        self._writer: Optional[Writer] = None
        self._resource_ref = 0
        if self._disabled:
            return
        is_strict = _env.strict(strict)
        _env.warn_about_exporter_settings()
        if isinstance(writer, NoWriter):
            self._fail(writer.reason)
            return
        if writer is None:
            writer, error = open_writer_or_none(file, is_strict)
            if writer is None:
                self._fail(error or "no telemetry file")
                return
        self._writer = writer
        try:
            self._resource_ref = self._create_resource()
        except Exception as exc:  # pylint: disable=broad-except  (a failing file must not stop the app)
            if is_strict:
                raise ConfigurationError(f"otlp_mmap: cannot write into the telemetry file: {exc}") from exc
            _env.warn_once(f"resource:{type(exc).__name__}", "otlp_mmap: cannot write the resource (%s); "
                           "telemetry is OFF for this provider", exc)
            self._writer = None
            self._fail(str(exc))
            return
        _providers.add(self)
        if shutdown_on_exit:
            ref = weakref.ref(self)

            def _at_exit() -> None:
                provider = ref()
                if provider is not None:
                    provider.shutdown()

            atexit.register(_at_exit)

    # ---------------------------------------------------------------- public

    @property
    def resource(self) -> Resource:
        return self._resource

    @property
    def writer(self) -> Optional[Writer]:
        """The Writer of the telemetry file (None when the SDK is disabled)."""
        return self._writer

    @property
    def disabled(self) -> bool:
        """True when this provider is a no-op: OTEL_SDK_DISABLED=true, or the telemetry file
        could not be used (see ``setup_error``)."""
        return self._disabled

    @property
    def setup_error(self) -> Optional[str]:
        """Why this provider is a no-op although the SDK is enabled (no or an unusable
        telemetry file), else None."""
        return self._setup_error

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Records are written when they happen: there is nothing to flush."""
        return True

    def shutdown(self) -> None:
        """Stops recording. Later telemetry through this provider is dropped."""
        with self._lock:
            if self._is_shutdown:
                return
            self._is_shutdown = True
        self._on_shutdown()

    # ---------------------------------------------------------------- internals

    def _fail(self, reason: str) -> None:
        """No writer: the provider is a no-op (its calls succeed and do nothing)."""
        self._disabled = True
        self._setup_error = reason

    def _w(self) -> Writer:
        """The writer of an enabled provider."""
        assert self._writer is not None, "the SDK is disabled"
        return self._writer

    def _active(self) -> bool:
        return not self._disabled and not self._is_shutdown

    def _create_resource(self) -> int:
        assert self._writer is not None
        try:
            ref = self._writer.create_resource(self._resource.attributes, self._schema_url, lenient=True)
        except (TypeError, ValueError) as exc:
            _logger.warning("otlp_mmap: resource attributes rejected (%s); writing an empty resource", exc)
            ref = self._writer.create_resource({}, self._schema_url)
        return int(ref)

    def _create_scope(
        self,
        name: str,
        version: Optional[str],
        attributes: Optional[Mapping[str, Any]],
        schema_url: Optional[str],
    ) -> int:
        assert self._writer is not None
        if not isinstance(name, str) or not name:
            _logger.warning("otlp_mmap: invalid instrumentation scope name %r; using ''", name)
            name = ""
        if version is not None and not isinstance(version, str):
            version = str(version)
        if schema_url is not None and not isinstance(schema_url, str):
            schema_url = None
        name, version, schema_url = text(name) or "", text(version), text(schema_url)
        try:
            ref = self._writer.create_instrumentation_scope(
                self._resource_ref, name, version, attributes, schema_url, lenient=True
            )
        except (TypeError, ValueError) as exc:
            _logger.warning("otlp_mmap: scope %r rejected (%s)", name, exc)
            ref = self._writer.create_instrumentation_scope(self._resource_ref, name)
        return int(ref)

    def _after_fork(self) -> None:
        """In a forked child: a resource with the child's pid, new scopes and streams."""
        self._lock = threading.RLock()
        attributes = dict(self._resource.attributes)
        attributes.update(process_attributes())
        self._resource = Resource(attributes, self._schema_url)
        if self._writer is None:
            return
        self._resource_ref = self._create_resource()
        self._on_new_resource()

    def _on_new_resource(self) -> None:
        """Re-creates scopes (and streams) under the new resource."""

    def _on_shutdown(self) -> None:
        """Disables what the provider made."""


def _after_fork_in_child() -> None:
    global _writers_lock  # pylint: disable=global-statement
    _writers_lock = threading.Lock()
    for writer in list(_writers.values()):
        try:
            writer.after_fork_in_child()
        except Exception:  # pylint: disable=broad-except
            _logger.exception("otlp_mmap: after_fork_in_child failed")
    for provider in list(_providers):
        try:
            provider._after_fork()  # pylint: disable=protected-access
        except Exception:  # pylint: disable=broad-except
            _logger.exception("otlp_mmap: re-creating the SDK state in a forked child failed")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
