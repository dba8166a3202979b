"""otlp_mmap._native.Reader: state, counters, draining, peeking, and hostile or damaged files."""

import os
import struct

import pytest
from native_support import SMALL, SPAN_ID, TRACE_ID

from otlp_mmap import FormatError, NotInitializedError, Reader, Writer


def _varint_size(n):
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def test_header_describes_the_file(writer, reader, path):
    h = reader.header()
    g = writer.geometry
    assert h["version"] == 1
    for ring in ("events", "spans", "measurements"):
        assert h[f"{ring}_offset"] == g[ring]["offset"]
    assert h["events_offset"] == 64
    assert h["dictionary_offset"] == g["dictionary_offset"]
    assert h["dictionary_end"] == g["dictionary_offset"] + 64 + sum(
        _varint_size(len(e)) + len(e) for _, e in reader.dictionary_entries()
    )
    assert h["dictionary_entries"] == len(reader.dictionary_entries())
    assert h["file_size"] == os.path.getsize(path)
    assert h["start_time_unix_nano"] > 1_600_000_000 * 10**9
    assert (h["reader_skipped_torn"], h["reader_skipped_corrupt"]) == (0, 0)


def test_ring_states_and_counters_follow_reads(writer, reader, scope):
    for i in range(3):
        writer.record_span_end(scope, TRACE_ID, SPAN_ID, i)
    writer.record_event(scope, None, 0, 1, None)
    states = reader.ring_states()
    assert states["spans"] == {
        "num_buffers": 64, "buffer_size": 512, "reader_index": -1, "writer_index": 2, "unread": 3
    }
    assert states["events"]["unread"] == 1 and states["measurements"]["unread"] == 0
    assert reader.read_span_event()["end_time_unix_nano"] == 0
    assert reader.ring_states()["spans"]["unread"] == 2
    drained = reader.read_all()
    assert [len(drained[k]) for k in ("events", "spans", "measurements")] == [1, 2, 0]
    assert reader.read_all() == {"events": [], "spans": [], "measurements": []}
    assert reader.read_event() is None and reader.read_span_event() is None and reader.read_measurement() is None
    counters = reader.reader_counters()
    assert counters["spans"] == {"records": 3, "torn": 0, "corrupt": 0}
    assert counters["events"] == {"records": 1, "torn": 0, "corrupt": 0}
    assert (counters["file_torn_total"], counters["file_corrupt_total"]) == (0, 0)
    assert reader.writer_counters() == writer.counters()


def test_peek_does_not_consume(writer, reader, scope):
    for i in range(5):
        writer.record_span_name(scope, TRACE_ID, SPAN_ID, f"n{i}")
    assert [r["name"] for r in reader.peek("spans")] == ["n0", "n1", "n2", "n3", "n4"]
    assert [r["name"] for r in reader.peek("spans", max=2)] == ["n0", "n1"]
    assert reader.peek("events") == [] and reader.peek("measurements", 0) == []
    assert reader.read_span_event()["name"] == "n0"
    assert [r["name"] for r in reader.peek("spans")] == ["n1", "n2", "n3", "n4"]
    with pytest.raises(ValueError, match="unknown ring"):
        reader.peek("logs")
    with pytest.raises(TypeError):
        reader.peek(None)


def test_skip_consumes_without_decoding(writer, reader, scope):
    for i in range(4):
        writer.record_span_name(scope, TRACE_ID, SPAN_ID, f"n{i}")
    assert reader.skip("spans", 3) == 3
    assert reader.read_span_event()["name"] == "n3"
    assert reader.skip("spans") == 0


def test_read_only_reader_peeks_but_never_consumes(writer, path, scope):
    writer.record_span_name(scope, TRACE_ID, SPAN_ID, "peeked")
    ro = Reader(path, read_only=True)
    assert [r["name"] for r in ro.peek("spans")] == ["peeked"]
    assert ro.read_span_event() is None
    assert ro.read_all() == {"events": [], "spans": [], "measurements": []}
    assert ro.ring_states()["spans"]["unread"] == 1
    assert ro.read_string(writer.record_string("k")) == "k"
    assert Reader(path).read_span_event()["name"] == "peeked"


def test_dictionary_entries(writer, reader):
    refs = [writer.record_string(s) for s in ("one", "two", "three")]
    entries = reader.dictionary_entries()
    assert [(ref, data) for ref, data in entries if ref in refs] == list(zip(refs, [b"one", b"two", b"three"]))
    assert len(reader.dictionary_entries(2)) == 2


def test_bad_refs_are_clear_errors(writer, reader, scope):
    with pytest.raises(ValueError, match="does not point at an entry"):
        reader.read_string(12345678)
    with pytest.raises(ValueError, match="does not point at an entry"):
        reader.read_resource(-5)
    with pytest.raises(ValueError, match="does not point at an entry"):
        reader.read_scope(1 << 40)
    assert reader.read_string(0) == ""
    malformed = writer.record_string("\x0a\x7f")  # field 1, 127 bytes long, then nothing
    with pytest.raises(FormatError, match="is not a Resource"):
        reader.read_resource(malformed)
    with pytest.raises(FormatError, match="is not an InstrumentationScope"):
        reader.read_scope(malformed)
    with pytest.raises(FormatError, match="is not a MetricRef"):
        reader.read_metric_stream(malformed)
    not_text = writer.create_resource({"k": b"\xff\xfe"})
    with pytest.raises(FormatError, match="not UTF-8"):
        reader.read_string(not_text)


def _overwrite(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def test_unresolvable_keys_become_placeholders(writer, path, scope):
    metric = writer.create_metric_stream(scope, "m", "", "", {"gauge": {}})
    writer.record_measurement(metric, {"doomed.key": 1, "fine": 2}, 1, 1)
    (ref,) = [r for r, data in Reader(path, read_only=True).dictionary_entries() if data == b"doomed.key"]
    _overwrite(path, ref, b"\xff\xff\xff\xff\x0f")  # a length no reader accepts
    m = Reader(path).read_measurement()
    assert m["attributes"] == {f"<bad ref {ref}>": 1, "fine": 2}


def _slot_offset(reader, ring, index):
    h, s = reader.header(), reader.ring_states()[ring]
    return h[f"{ring}_offset"] + 32 + 4 * s["num_buffers"] + index * s["buffer_size"]


def test_corrupt_records_are_skipped_and_counted(writer, path, scope):
    writer.record_span_name(scope, TRACE_ID, SPAN_ID, "first")
    writer.record_span_name(scope, TRACE_ID, SPAN_ID, "second")
    writer.record_span_name(scope, TRACE_ID, SPAN_ID, "third")
    r = Reader(path)
    _overwrite(path, _slot_offset(r, "spans", 0), b"\x05\x0a\xff\xff\xff\x7f")  # truncated field
    _overwrite(path, _slot_offset(r, "spans", 1), b"\xff" * 11)  # unreadable length prefix
    assert r.peek("spans")[0] == {"corrupt": True, "sequence": 0}
    assert r.read_span_event()["name"] == "third"
    assert r.reader_counters()["spans"]["corrupt"] == 2
    assert r.header()["reader_skipped_corrupt"] == 2


def test_torn_slots_are_skipped_after_the_grace_period(writer, path, scope):
    r = Reader(path, torn_grace_seconds=0.0)
    # A writer that claimed a slot and died before publishing it.
    writer_index = r.header()["spans_offset"] + 24
    _overwrite(path, writer_index, struct.pack("<q", 0))
    assert r.read_span_event() is None  # pending: the grace period starts
    writer.record_span_name(scope, TRACE_ID, SPAN_ID, "after")  # the next sequence (1)
    assert r.read_span_event()["name"] == "after"
    assert r.reader_counters()["spans"]["torn"] == 1
    assert r.header()["reader_skipped_torn"] == 1


def test_file_errors(tmp_path, path):
    with pytest.raises(FileNotFoundError):
        Reader(str(tmp_path / "missing.mmap"))
    empty = tmp_path / "empty.mmap"
    empty.write_bytes(b"")
    with pytest.raises(NotInitializedError):
        Reader(str(empty))
    blank = tmp_path / "blank.mmap"
    blank.write_bytes(bytes(4096))
    with pytest.raises(NotInitializedError, match="not initialised"):
        Reader(str(blank))
    future = tmp_path / "future.mmap"
    future.write_bytes(struct.pack("<q", 2) + bytes(4088))
    with pytest.raises(FormatError, match="version 2"):
        Reader(str(future))
    garbage = tmp_path / "garbage.mmap"
    garbage.write_bytes(struct.pack("<q", 1) + b"\xab" * 4088)
    with pytest.raises(FormatError):
        Reader(str(garbage))
    with pytest.raises(OSError):
        Reader(str(tmp_path))
    with pytest.raises(ValueError, match="torn_grace_seconds"):
        Reader(str(garbage), torn_grace_seconds=-1)
    assert issubclass(NotInitializedError, FormatError) and issubclass(FormatError, ValueError)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file away")
def test_files_of_other_users_need_trust(path):
    Writer(path, **SMALL)
    os.chown(path, 12345, -1)
    with pytest.raises(PermissionError, match="owned by uid 12345"):
        Reader(path)
    assert Reader(path, trust_any_owner=True).header()["version"] == 1


def test_random_damage_never_crashes(writer, path, scope):
    """Bytes flipped all over the rings and dictionary give errors or placeholders, not crashes."""
    import random

    metric = writer.create_metric_stream(scope, "m", "", "", {"histogram": {"aggregation_temporality": 1}})
    for i in range(20):
        writer.record_measurement(metric, {"k": i, "s": "x" * i}, i, i / 3)
        writer.record_event(scope, None, 0, i, {"k": [i]}, body={"b": [1, "x", {"n": None}]})
        writer.record_span_start(scope, TRACE_ID, SPAN_ID, None, 1, "s", 1, i, {"a": b"\x00"})
    h = Reader(path, read_only=True).header()
    # Headers are validated when a file is opened (other tests cover that): keep them.
    headers = [(h[f"{ring}_offset"], 32) for ring in ("events", "spans", "measurements")]
    headers.append((h["dictionary_offset"], 64))
    rng = random.Random(1234)
    with open(path, "r+b") as f:
        for _ in range(400):
            offset = rng.randrange(h["events_offset"], h["dictionary_end"])
            if any(start <= offset < start + size for start, size in headers):
                continue
            f.seek(offset)
            f.write(bytes([rng.randrange(256)]))
    r = Reader(path)
    r.peek("events", 1000)
    r.read_all()
    for ref, _ in r.dictionary_entries():
        for read in (r.read_string, r.read_resource, r.read_scope, r.read_metric_stream):
            try:
                read(ref)
            except ValueError:
                pass


def test_close_and_context_manager(path, writer):
    with Reader(path) as r:
        assert not r.closed
        assert "Reader" in repr(r)
    assert r.closed
    with pytest.raises(ValueError, match="closed"):
        r.header()
    assert "closed" in repr(r)


def _varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number, wire_type, payload):
    tag = _varint(number << 3 | wire_type)
    if wire_type == 2:
        return tag + _varint(len(payload)) + payload
    return tag + payload


def test_value_refs_are_resolved(writer, path, scope):
    """The writer never emits value_ref, other implementations may: craft records that use it."""
    metric = writer.create_metric_stream(scope, "m", "", "", {"gauge": {}})
    key = writer.record_string("k")

    def entry(make):
        """A dictionary entry holding make(its own ref): a placeholder string, then overwritten."""
        ref = Reader(path, read_only=True).header()["dictionary_end"]
        content = make(ref)
        assert writer.record_string("x" * len(content)) == ref
        _overwrite(path, ref + len(_varint(len(content))), content)
        return ref

    target = entry(lambda ref: _field(1, 2, b"shared text"))  # AnyValue{string_value}
    looped = entry(lambda ref: _field(8, 0, _varint(ref)))  # AnyValue{value_ref: itself}
    missing = 999_999_999
    expected = {target: "shared text", looped: f"<bad ref {looped}>", missing: f"<bad ref {missing}>"}

    for value_ref, want in expected.items():
        writer.record_measurement(metric, {"k": "placeholder"}, 1, 1)
        kv = _field(1, 0, _varint(key)) + _field(2, 2, _field(8, 0, _varint(value_ref)))
        record = _field(1, 0, _varint(metric)) + _field(2, 2, kv) + _field(4, 0, _varint(7))
        r = Reader(path)
        seq = r.ring_states()["measurements"]["writer_index"]
        _overwrite(path, _slot_offset(r, "measurements", seq % 64), _varint(len(record)) + record)
        assert r.read_measurement()["attributes"]["k"] == want
        r.close()
