"""Entry points for ``opentelemetry-instrument`` (package opentelemetry-instrumentation).

``opentelemetry-instrument python app.py`` loads, through its ``sitecustomize``, one
``opentelemetry_distro`` (the one named by ``OTEL_PYTHON_DISTRO``, else the first installed)
and then the ``opentelemetry_configurator`` named by ``OTEL_PYTHON_CONFIGURATOR`` (else every
installed one, the first winning). Ours are both named ``otlp_mmap``:

* :class:`OtlpMmapDistro` sets ``OTEL_PYTHON_CONFIGURATOR=otlp_mmap`` unless it is set, so
  that only our configurator runs even when another package (opentelemetry-distro) installs
  one;
* :class:`OtlpMmapConfigurator` calls :func:`otlp_mmap.configure` (file from
  ``SDK_MMAP_EXPORTER_FILE``; the standard ``OTEL_*`` variables apply).

When another distro is installed too, set ``OTEL_PYTHON_DISTRO=otlp_mmap`` and
``OTEL_PYTHON_CONFIGURATOR=otlp_mmap``. Without a usable ``SDK_MMAP_EXPORTER_FILE`` the
configurator logs one warning (the path, the reason, the fix) and the application runs with
no-op providers; with ``OTLP_MMAP_STRICT=true`` it raises, which ``opentelemetry-instrument``
logs before running the application uninstrumented. Exporter options
(``--traces_exporter console``, ``OTEL_*_EXPORTER``, ``OTEL_EXPORTER_OTLP_*``) give one
warning: exporting is the job of ``otlp-mmap collect``.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

OTEL_PYTHON_CONFIGURATOR = "OTEL_PYTHON_CONFIGURATOR"
TELEMETRY_AUTO_VERSION = "telemetry.auto.version"


class OtlpMmapDistro(BaseDistro):  # type: ignore[misc]
    """Makes our configurator the one that runs."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault(OTEL_PYTHON_CONFIGURATOR, "otlp_mmap")


class OtlpMmapConfigurator:
    """Sets up the SDK from the environment (``opentelemetry_configurator`` entry point)."""

    def configure(self, **kwargs: Any) -> None:
        """``opentelemetry-instrument`` passes ``auto_instrumentation_version``: it becomes the
        resource's ``telemetry.auto.version``, as with the official SDK's configurator."""
        from otlp_mmap.sdk import configure  # noqa: PLC0415

        version = kwargs.get("auto_instrumentation_version")
        configure(resource_attributes={TELEMETRY_AUTO_VERSION: version} if version else None)


__all__ = ["OtlpMmapConfigurator", "OtlpMmapDistro"]
