"""An application for the file-safety tests: fills the dictionary on purpose, then writes
ordinary telemetry, through the otlp-mmap SDK (``otlp_mmap.configure()``).

``python fill_app.py --file F [--distinct N --key-bytes K] [--plain M] [--summary S]``

* ``--distinct N``: N spans, each with one attribute whose key is new and K bytes long, so
  every span needs a new dictionary entry (the dictionary fills up);
* ``--plain M``: then M spans ``fill.plain`` (attribute ``fill.seq``), M log records and M
  counter adds, all with keys seen before: telemetry that needs no new entry. One of each
  (``fill.seq`` = -1) is written first, before the distinct spans.

It never catches anything the SDK might raise: telemetry must not raise into application
code, so an exception here fails the test. At the end it writes a JSON summary with the SDK's
counters and prints "done".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys


def rss_anon_kib() -> int:
    """The private, anonymous part of this process's RSS (the heap), in KiB: the telemetry
    file's pages are shared and count in RssFile/RssShmem instead."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", required=True)
    ap.add_argument("--distinct", type=int, default=0)
    ap.add_argument("--key-bytes", type=int, default=64)
    ap.add_argument("--plain", type=int, default=0)
    ap.add_argument("--run", type=int, default=1)
    ap.add_argument("--summary")
    args = ap.parse_args()

    import otlp_mmap
    from opentelemetry import metrics, trace

    telemetry = otlp_mmap.configure(args.file, service_name="fill-app", logging_handler=True)
    tracer = trace.get_tracer("fill.app", "1.0")
    counter = metrics.get_meter("fill.app", "1.0").create_counter("fill.ops")
    log = logging.getLogger("fill.app")
    log.setLevel(logging.INFO)

    def plain(i: int) -> None:
        with tracer.start_as_current_span("fill.plain", attributes={"fill.seq": i, "fill.run": args.run}):
            log.info("plain %d", i, extra={"fill.seq": i, "fill.run": args.run})
            counter.add(1, {"fill.run": args.run})

    # One of each first, so that everything the plain phase needs is in the dictionary
    # before it can fill up.
    plain(-1)
    anon_before = rss_anon_kib()
    pad = "k" * max(0, args.key_bytes - 24)
    for i in range(args.distinct):
        with tracer.start_as_current_span("fill.distinct", attributes={f"r{args.run}.{i:012d}.{pad}": i}):
            pass
    for i in range(args.plain):
        plain(i)
    anon_after = rss_anon_kib()
    telemetry.shutdown()
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump({"pid": os.getpid(), "sdk_counters": otlp_mmap.sdk.counters(),
                       "rss_anon_before_kib": anon_before, "rss_anon_after_kib": anon_after,
                       "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss},
                      f)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
