"""otlp-mmap: OpenTelemetry telemetry written to a memory-mapped file.

The application writes through :class:`Writer`; a separate collector process reads the
file (:class:`Reader` reads it from Python, for tests and tools).
"""

from otlp_mmap._native import FormatError, NotInitializedError, Reader, Writer

__version__ = "0.1.0"

# AggregationTemporality of proto/mmap.proto, for create_metric_stream().
DELTA = 1
CUMULATIVE = 2

__all__ = [
    "CUMULATIVE",
    "DELTA",
    "FormatError",
    "NotInitializedError",
    "Reader",
    "Writer",
    "__version__",
]
