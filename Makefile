# Quick start: `make demo` and `make test` do all set-up themselves (scripts/setup.sh).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
BUILD  := build/dev
ASAN   := build/asan
TSAN   := build/tsan
FUZZ   := build/fuzz
FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 600
JOBS   ?= $(shell nproc)
CMAKE_GEN := -G Ninja

.PHONY: help setup build python otelcol test test-cpp test-python test-sanitizers test-asan test-tsan \
        test-fuzz fuzz fuzz-build soak wheel wheels demo demo-core bench bench-cpp bench-python bench-sdk bench-sdk-instructions bench-collector bench-load bench-pipeline format format-check clean

help:
	@echo "make demo            set up if needed; collector + example server (gunicorn, 2 workers) + a few"
	@echo "                     hundred requests; prints the spans, a trace tree, metrics and logs that arrived"
	@echo "make demo-core       the native module alone: write a workload, print what the reader decodes"
	@echo "make test            set up if needed, then every test (C++, Python, end to end, sanitizers, fuzz, wheel)"
	@echo "make bench           C++, Python, SDK-vs-official and collector benchmarks (printed, never asserted)"
	@echo "make soak            10 minutes of load through the whole pipeline; RSS must stay flat (SOAK_SECONDS=...)"
	@echo "make bench-pipeline  the whole pipeline (app + collector CPU per item, drops) against the official SDK"
	@echo "make bench-load      wrk against the example server: no telemetry, official SDK, otlp-mmap"
	@echo "make bench-sdk-instructions [BASELINE=checkout]   instructions per SDK call (callgrind), against another checkout"
	@echo "make test-asan|test-tsan  the C++ tests under AddressSanitizer+UBSan / ThreadSanitizer"
	@echo "make wheel           the sdist and .venv's wheel (with build/dev's collector) in dist/, checked in a clean virtualenv"
	@echo "make wheels          the sdist and a manylinux wheel per CPython 3.9-3.13 found, each checked in a clean virtualenv"
	@echo "make format          clang-format the C++ sources"

setup:
	@scripts/setup.sh

# -g1 (line tables, no variable info) instead of -g: backtraces, perf and sanitizer reports keep
# file:line, and the collector's test code compiles in 40% less time (measured per file, gcc 12), which
# counts on a 2-core CI machine. Configure by hand for full debug info.
DEV_FLAGS  := -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
# ThreadSanitizer at -O1 -g1 compiles in half the time of -O2 -g (TSan's own advice is -O1 or -O2).
TSAN_FLAGS := -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(DEV_FLAGS)

build: setup $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# The Python package, installed editable into .venv (native module built by scikit-build-core).
python: setup
	@scripts/build-python.sh

test: setup build python otelcol test-cpp test-python test-sanitizers test-fuzz wheel format-check
	@echo "make test: all passed"

test-cpp: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

# A real OpenTelemetry Collector for end-to-end tests, built once from the Go module proxy.
otelcol: setup
	@scripts/build-otelcol.sh

test-python: python otelcol build
	OTLP_MMAP_E2E=1 OTLP_MMAP_BIN=$(BUILD)/collector/otlp-mmap \
	  OTLP_MMAP_EXPORT_PROBE=$(BUILD)/tests/collector/export_probe \
	  $(PY) -m pytest -q tests/python tests/interop tests/otlp tests/sdk tests/collector tests/examples \
	    tests/reliability

test-sanitizers: test-asan test-tsan

test-asan: setup
	cmake -S . -B $(ASAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DOTLP_MMAP_SANITIZE=address,undefined \
	  -DOTLP_MMAP_BUILD_BENCHMARKS=OFF >/dev/null
	cmake --build $(ASAN) -j $(JOBS) --target core_tests proto_compat_tests collector_tests
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 900

test-tsan: setup
	cmake -S . -B $(TSAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(TSAN_FLAGS) -DOTLP_MMAP_SANITIZE=thread \
	  -DOTLP_MMAP_BUILD_BENCHMARKS=OFF >/dev/null
	cmake --build $(TSAN) -j $(JOBS) --target core_tests proto_compat_tests collector_tests
	cd $(TSAN) && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j $(JOBS) --timeout 900

# The sdist and the default interpreter's wheel in dist/ (with build/dev's collector), repaired
# by auditwheel and checked in a clean virtualenv, the collector exporting to the real Collector.
wheel: setup otelcol $(BUILD)/build.ninja
	@BUILD=$(BUILD) scripts/check-wheel.sh

# The distributable sdist and manylinux wheels, one per CPython 3.9-3.13 found, each checked.
wheels: setup otelcol
	@scripts/build-wheels.sh

fuzz-build: setup
	CXX=clang++ cmake -S . -B $(FUZZ) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOTLP_MMAP_FUZZ=ON \
	  -DOTLP_MMAP_SANITIZE=address,undefined -DOTLP_MMAP_BUILD_TESTS=OFF -DOTLP_MMAP_BUILD_BENCHMARKS=OFF >/dev/null
	cmake --build $(FUZZ) -j $(JOBS)

# Each libFuzzer target for FUZZ_SECONDS under ASan+UBSan, from the seed corpus in fuzz/corpus.
# New inputs go to build/fuzz/work (the committed corpus stays as it is).
# The three run at once: FUZZ_SECONDS of wall time in all rather than three times that.
FUZZ_RUNS := reader_file_fuzz:file record_fuzz:record dictionary_entry_fuzz:entry
test-fuzz: fuzz-build
	@pids=(); for run in $(FUZZ_RUNS); do \
	  scripts/run-fuzz.sh $${run%%:*} fuzz/corpus/$${run##*:} $(FUZZ_SECONDS) & pids+=($$!); \
	done; rc=0; for p in "$${pids[@]}"; do wait $$p || rc=1; done; exit $$rc

fuzz: FUZZ_SECONDS = 600
fuzz: test-fuzz

demo: build python
	$(PY) examples/demo.py

demo-core: python
	$(PY) examples/core_demo.py

bench: bench-cpp bench-python bench-sdk bench-collector

# The SDK against the official one, in one run: per API call, and per request of the example
# server (in-process, so other processes cannot blur it).
bench-sdk: python otelcol
	$(PY) bench/sdk_bench.py
	$(PY) bench/request_overhead_bench.py

# Instructions per SDK call (callgrind: immune to the machine's noise), against another
# checkout with BASELINE=path.
bench-sdk-instructions: python
	$(PY) bench/sdk_instructions.py $(if $(BASELINE),--baseline $(BASELINE))

# The collector on one core: spans/logs/measurements per second, idle CPU, into a real Collector.
bench-collector: build otelcol
	taskset -c 0 $(BUILD)/bench/collector_pipeline_bench --benchmark_min_time=0.5
	taskset -c 0 $(BUILD)/bench/collector_metrics_bench --benchmark_min_time=0.5
	$(PY) bench/collector_idle_cpu.py
	$(PY) bench/collector_otelcol_bench.py

# The whole pipeline against the official SDK into one real Collector: CPU per span, log record and
# measurement (application + collector), drops, collector RSS, and the API calls while the
# collector drains the file (bench/pipeline_bench.py).
bench-pipeline: build python otelcol
	$(PY) bench/pipeline_bench.py

# wrk against the example server under gunicorn: no telemetry, official SDK, otlp-mmap.
bench-load: build python otelcol
	$(PY) bench/load_bench.py

bench-cpp: build
	$(BUILD)/bench/core_bench --benchmark_min_time=0.5 --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

bench-python: python
	$(PY) bench/python_native_bench.py
	$(PY) bench/burst_bench.py

CLANG_FORMAT_FILES = $(shell git ls-files '*.cpp' '*.hpp' '*.h' 2>/dev/null)
format:
	clang-format -i $(CLANG_FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(CLANG_FORMAT_FILES)

clean:
	rm -rf build

# Sustained load through the whole pipeline (example server under gunicorn, our collector, a
# real OpenTelemetry Collector) for SOAK_SECONDS; the RSS of the application and of the
# collector must stay within 10% after the warm-up. Not part of `make test`.
soak: build python otelcol
	OTLP_MMAP_BIN=$(BUILD)/collector/otlp-mmap SOAK_SECONDS=$(SOAK_SECONDS) $(PY) tests/reliability/soak.py
