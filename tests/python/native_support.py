"""Constants shared by the otlp_mmap._native tests (a module of its own: every test
directory has a conftest.py, so `from conftest import ...` would be ambiguous)."""

TRACE_ID = bytes(range(1, 17))
SPAN_ID = bytes(range(1, 9))
PARENT_ID = bytes(range(11, 19))

# Small rings keep files small and make a full ring cheap to reach.
SMALL = dict(
    events_slots=64,
    events_slot_size=512,
    spans_slots=64,
    spans_slot_size=512,
    measurements_slots=64,
    measurements_slot_size=256,
    dictionary_initial_bytes=4096,
)
