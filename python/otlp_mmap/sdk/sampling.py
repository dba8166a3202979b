"""Samplers.

The built-in samplers of the specification run natively: ``ALWAYS_ON``, ``ALWAYS_OFF``,
``TraceIdRatioBased(rate)`` and ``ParentBased(root)`` (whose delegates are the
specification's defaults: a sampled parent samples, an unsampled parent does not, remote or
local). ``OTEL_TRACES_SAMPLER`` selects one of ``always_on``, ``always_off``,
``traceidratio``, ``parentbased_always_on`` (the default), ``parentbased_always_off``,
``parentbased_traceidratio``; ``OTEL_TRACES_SAMPLER_ARG`` is the ratio (default 1.0).

``TraceIdRatioBased`` decides as the official SDK does: sampled when the low 64 bits of the
trace id are below ``round(rate * 2**64)``.

Any other object with the official SDK's ``should_sample(parent_context, trace_id, name,
kind, attributes, links)`` method (returning a result with ``decision``, ``attributes`` and
``trace_state``) may be passed as ``sampler=`` too; it is called from the native code for
every span (slower).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping, Optional

from otlp_mmap.sdk import _env

_logger = logging.getLogger("otlp_mmap.sdk")

# Root kinds as the native Tracer takes them.
_ROOTS = {"always_on": 0, "always_off": 1, "traceidratio": 2}


class Sampler:
    """A built-in sampler (run natively)."""

    __slots__ = ("_root", "_parent_based", "_rate")

    def __init__(self, root: str, parent_based: bool = False, rate: float = 1.0) -> None:
        if root not in _ROOTS:
            raise ValueError(f"unknown sampler root {root!r}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("the sampling rate must be in [0.0, 1.0]")
        self._root = root
        self._parent_based = parent_based
        self._rate = float(rate)

    @property
    def root(self) -> str:
        return self._root

    @property
    def parent_based(self) -> bool:
        return self._parent_based

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def native_kind(self) -> int:
        return _ROOTS[self._root]

    def get_description(self) -> str:
        inner = {"always_on": "AlwaysOnSampler", "always_off": "AlwaysOffSampler"}.get(
            self._root, f"TraceIdRatioBased{{{self._rate}}}"
        )
        return f"ParentBased{{root:{inner}}}" if self._parent_based else inner

    def __repr__(self) -> str:
        return f"<otlp_mmap Sampler {self.get_description()}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sampler) and (self._root, self._parent_based, self._rate) == (
            other._root,
            other._parent_based,
            other._rate,
        )

    def __hash__(self) -> int:
        return hash((self._root, self._parent_based, self._rate))


ALWAYS_ON = Sampler("always_on")
ALWAYS_OFF = Sampler("always_off")
DEFAULT_ON = Sampler("always_on", parent_based=True)
DEFAULT_OFF = Sampler("always_off", parent_based=True)


def TraceIdRatioBased(rate: float) -> Sampler:  # noqa: N802 - named as the specification's sampler
    """Samples a fraction ``rate`` of traces (by trace id)."""
    return Sampler("traceidratio", False, rate)


def ParentBased(root: Sampler) -> Sampler:  # noqa: N802
    """Follows the parent's sampled flag; ``root`` decides for root spans."""
    if not isinstance(root, Sampler):
        raise TypeError("ParentBased(root): root must be a built-in Sampler")
    return Sampler(root.root, True, root.rate)


def from_name(name: str, arg: Optional[str] = None) -> Sampler:
    """A sampler from an OTEL_TRACES_SAMPLER name and OTEL_TRACES_SAMPLER_ARG value."""
    name = (name or "").strip().lower()
    parent_based = name.startswith("parentbased_")
    root = name[len("parentbased_") :] if parent_based else name
    if root not in _ROOTS:
        _logger.warning("Unknown sampler %r; using parentbased_always_on", name)
        return DEFAULT_ON
    rate = 1.0
    if root == "traceidratio":
        try:
            rate = float(arg) if arg not in (None, "") else 1.0
            if not 0.0 <= rate <= 1.0:
                raise ValueError(rate)
        except (TypeError, ValueError):
            _logger.warning("OTEL_TRACES_SAMPLER_ARG=%r is not a ratio in [0, 1]; using 1.0", arg)
            rate = 1.0
    return Sampler(root, parent_based, rate)


def from_env(environ: Optional[Mapping[str, str]] = None) -> Sampler:
    env = environ if environ is not None else os.environ
    name = env.get(_env.OTEL_TRACES_SAMPLER, "").strip() or "parentbased_always_on"
    return from_name(name, env.get(_env.OTEL_TRACES_SAMPLER_ARG))


def resolve(sampler: Any) -> Any:
    """A Sampler, a sampler name, a custom sampler object, or None (from the environment)."""
    if sampler is None:
        return from_env()
    if isinstance(sampler, Sampler):
        return sampler
    if isinstance(sampler, str):
        return from_name(sampler, os.environ.get(_env.OTEL_TRACES_SAMPLER_ARG))
    if callable(getattr(sampler, "should_sample", None)):
        return sampler
    raise TypeError(f"sampler must be an otlp_mmap Sampler, a sampler name or have should_sample(), not {sampler!r}")
