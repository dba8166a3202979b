"""The official SDK under `opentelemetry-instrument`, as the opentelemetry-distro package
provides it (not installed in the project's virtualenv: a second installed distro would
change which one `opentelemetry-instrument` picks for every other test and user). Its two
classes are the same as opentelemetry-distro's; the entry points are declared by the
official_sdk_distro-1.0.dist-info next to this file, found when this directory is on
PYTHONPATH. Select with OTEL_PYTHON_DISTRO=official_sdk OTEL_PYTHON_CONFIGURATOR=official_sdk."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.environment_variables import OTEL_LOGS_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk.environment_variables import OTEL_EXPORTER_OTLP_PROTOCOL


class OfficialSdkConfigurator(_OTelSDKConfigurator):
    pass


class OfficialSdkDistro(BaseDistro):  # type: ignore[misc]
    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault(OTEL_TRACES_EXPORTER, "otlp")
        os.environ.setdefault(OTEL_METRICS_EXPORTER, "otlp")
        os.environ.setdefault(OTEL_LOGS_EXPORTER, "otlp")
        os.environ.setdefault(OTEL_EXPORTER_OTLP_PROTOCOL, "grpc")
