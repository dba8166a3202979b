"""A second, independent implementation of otlp-mmap protocol version 1, in plain Python.

It does things the way the protocol's reference implementation does them, and nothing
more, so the interoperability tests can check our C++ code against it:

* ``ReferenceStyleWriter`` lays out a file with the reference geometry (three rings of
  1024 slots of 512 bytes, a 1 KiB dictionary), writes the header in the reference's order
  (version, start time, then the section offsets), initialises every ring index and
  availability flag to -1, allows at most N-1 unread records per ring, writes strings as
  varint length + UTF-8 and messages length-delimited, and publishes a slot by storing its
  lap number.
* ``ReferenceStyleReader`` follows the reference's read algorithm: check the version, take
  the geometry from the ring headers, read slot ``reader_index + 1`` when its availability
  flag equals the lap number, advance ``reader_index``. It knows none of our extensions.

Messages come from proto/mmap.proto with every extension field (number 100 and above)
removed, compiled with grpc_tools.protoc: what remains is the protocol's own schema.

Both classes are single-threaded test tools. Python gives no atomic or ordered stores on a
mapping, so use them only when no other process touches the file at the same time.
All integers in the file are little-endian.
"""

from __future__ import annotations

import importlib.util
import mmap
import os
import re
import struct
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROTO = REPO / "proto" / "mmap.proto"

HEADER_SIZE = 64
RING_HEADER_SIZE = 32
DICTIONARY_HEADER_SIZE = 64
RINGS = ("events", "spans", "measurements")

# File header fields (absolute offsets).
H_VERSION = 0
H_RING_OFFSET = {"events": 8, "spans": 16, "measurements": 24}
H_DICTIONARY = 32
H_START_TIME = 40

# Ring header fields (relative to the ring).
R_NUM_BUFFERS = 0
R_BUFFER_SIZE = 8
R_READER_INDEX = 16
R_WRITER_INDEX = 24
R_AVAILABILITY = 32

# Dictionary header fields (relative to the dictionary).
D_END = 0
D_NUM_ENTRIES = 8

REFERENCE_SLOTS = 1024
REFERENCE_SLOT_SIZE = 512
REFERENCE_DICTIONARY_BYTES = 1024


def ring_bytes(num_buffers: int, buffer_size: int) -> int:
    return RING_HEADER_SIZE + 4 * num_buffers + num_buffers * buffer_size


def layout_offsets(num_buffers=REFERENCE_SLOTS, buffer_size=REFERENCE_SLOT_SIZE, dictionary_bytes=REFERENCE_DICTIONARY_BYTES):
    """Absolute offsets of every section when the three rings share one geometry."""
    out = {}
    off = HEADER_SIZE
    for name in RINGS:
        out[name] = {"header": off, "availability": off + RING_HEADER_SIZE, "slots": off + RING_HEADER_SIZE + 4 * num_buffers}
        off += ring_bytes(num_buffers, buffer_size)
    out["dictionary"] = off
    out["first_entry"] = off + DICTIONARY_HEADER_SIZE
    out["eof"] = off + DICTIONARY_HEADER_SIZE + dictionary_bytes
    return out


# ------------------------------------------------------------------ wire helpers

def encode_varint(v: int) -> bytes:
    if v < 0:
        raise ValueError("negative length")
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def decode_varint(buf, pos: int, end: int) -> tuple[int, int]:
    v = 0
    shift = 0
    while True:
        if pos >= end or shift >= 64:
            raise ValueError("truncated or overlong varint")
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, pos
        shift += 7


def _to_i32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def flag_shift_first(idx: int, shift: int) -> int:
    """Lap number as the protocol text computes it: 64-bit shift, then keep 32 bits."""
    return _to_i32((idx & 0xFFFFFFFFFFFFFFFF) >> shift)


def flag_truncate_first(idx: int, shift: int) -> int:
    """Lap number as the reference's Rust core computes it: keep 32 bits, then shift."""
    return _to_i32((idx & 0xFFFFFFFF) >> shift)


# ------------------------------------------------------------------ schema

_PB = None


def reference_schema_text() -> str:
    """proto/mmap.proto without extension fields, in a package of its own (so it can live in
    one process next to code that loads the full schema)."""
    text = PROTO.read_text()
    field = re.compile(r"^\s*(?:repeated\s+)?[\w.]+\s+\w+\s*=\s*(\d+)\s*(?:\[[^\]]*\])?\s*;")
    kept = []
    for line in text.splitlines():
        m = field.match(line)
        if m and int(m.group(1)) >= 100:
            continue
        kept.append(line)
    out = "\n".join(kept) + "\n"
    out = re.sub(r"^package\s+[\w.]+\s*;", "package otlp_mmap_interop.reference.v1;", out, count=1, flags=re.M)
    if re.search(r"=\s*\d{3,}\s*;", out):
        raise AssertionError("an extension field survived the stripping")
    return out


def load_reference_schema():
    """The generated protobuf module of the protocol's own schema (no extensions)."""
    global _PB
    if _PB is not None:
        return _PB
    from grpc_tools import protoc  # provided by grpcio-tools (requirements-dev.txt)

    tmp = tempfile.mkdtemp(prefix="otlp-mmap-interop-")
    src = Path(tmp) / "mmap_reference.proto"
    src.write_text(reference_schema_text())
    rc = protoc.main(["protoc", f"-I{tmp}", f"--python_out={tmp}", str(src)])
    if rc != 0:
        raise RuntimeError(f"protoc failed ({rc}) on {src}")
    spec = importlib.util.spec_from_file_location("mmap_reference_pb2", Path(tmp) / "mmap_reference_pb2.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mmap_reference_pb2"] = mod
    spec.loader.exec_module(mod)
    _PB = mod
    return mod


def ring_message_class(ring: str):
    pb = load_reference_schema()
    return {"events": pb.Event, "spans": pb.SpanEvent, "measurements": pb.Measurement}[ring]


def unknown_fields(msg, path: str = "") -> list[str]:
    """Every field of `msg` (and of its sub-messages) that the schema does not know."""
    from google.protobuf import unknown_fields as uf

    name = path or msg.DESCRIPTOR.name
    out = [f"{name}.{f.field_number}" for f in uf.UnknownFieldSet(msg)]
    for fd, value in msg.ListFields():
        if fd.message_type is None:
            continue
        repeated = fd.is_repeated if hasattr(fd, "is_repeated") else fd.label == fd.LABEL_REPEATED
        items = value if repeated else [value]
        for i, sub in enumerate(items):
            out += unknown_fields(sub, f"{name}.{fd.name}[{i}]" if repeated else f"{name}.{fd.name}")
    return out


# ------------------------------------------------------------------ the mapped file

class _Mapped:
    def __init__(self, path, fd):
        self.path = str(path)
        self.fd = fd
        self.mm = None
        self.remap()

    def remap(self):
        if self.mm is not None:
            self.mm.close()
        self.size = os.fstat(self.fd).st_size
        self.mm = mmap.mmap(self.fd, self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

    def i64(self, off):
        return struct.unpack_from("<q", self.mm, off)[0]

    def u64(self, off):
        return struct.unpack_from("<Q", self.mm, off)[0]

    def i32(self, off):
        return struct.unpack_from("<i", self.mm, off)[0]

    def put_i64(self, off, v):
        struct.pack_into("<q", self.mm, off, v)

    def put_u64(self, off, v):
        struct.pack_into("<Q", self.mm, off, v)

    def put_i32(self, off, v):
        struct.pack_into("<i", self.mm, off, v)

    def close(self):
        if self.mm is not None:
            self.mm.close()
            self.mm = None
        os.close(self.fd)


class _Ring:
    def __init__(self, f: _Mapped, offset: int):
        self.f = f
        self.offset = offset
        self.n = f.i64(offset + R_NUM_BUFFERS)
        self.b = f.i64(offset + R_BUFFER_SIZE)
        if self.n <= 0 or self.n & (self.n - 1):
            raise ValueError(f"num_buffers must be a power of two, found {self.n}")
        self.mask = self.n - 1
        self.shift = self.n.bit_length() - 1

    @property
    def reader_index(self):
        return self.f.i64(self.offset + R_READER_INDEX)

    @property
    def writer_index(self):
        return self.f.i64(self.offset + R_WRITER_INDEX)

    def availability(self, idx):
        return self.f.i32(self.offset + R_AVAILABILITY + 4 * (idx & self.mask))

    def slot(self, idx):
        return self.offset + RING_HEADER_SIZE + 4 * self.n + (idx & self.mask) * self.b


# ------------------------------------------------------------------ writer

class RingFull(Exception):
    pass


class ReferenceStyleWriter:
    """Writes a file the way the reference writer does (see the module docstring).

    ``flag`` chooses how the availability lap number is computed; ``start_sequence`` starts
    the ring indices somewhere other than -1, to imitate a ring that has been running for a
    long time (a testing aid; the reference always starts at -1).
    """

    def __init__(self, path, num_buffers=REFERENCE_SLOTS, buffer_size=REFERENCE_SLOT_SIZE,
                 dictionary_bytes=REFERENCE_DICTIONARY_BYTES, flag=flag_truncate_first, start_sequence=-1):
        self.pb = load_reference_schema()
        self.flag = flag
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        rb = ring_bytes(num_buffers, buffer_size)
        min_size = HEADER_SIZE + 3 * rb + DICTIONARY_HEADER_SIZE + dictionary_bytes
        if os.fstat(fd).st_size < min_size:
            os.ftruncate(fd, min_size)
        self.f = _Mapped(path, fd)
        f = self.f
        offsets = [HEADER_SIZE + i * rb for i in range(3)]
        self.dictionary = HEADER_SIZE + 3 * rb
        # The reference's order: version first, then the start time, then the offsets.
        f.put_i64(H_VERSION, 1)
        f.put_u64(H_START_TIME, time.time_ns())
        for name, off in zip(RINGS, offsets):
            f.put_i64(H_RING_OFFSET[name], off)
        f.put_i64(H_DICTIONARY, self.dictionary)
        for off in offsets:
            f.put_i64(off + R_NUM_BUFFERS, num_buffers)
            f.put_i64(off + R_BUFFER_SIZE, buffer_size)
            f.put_i64(off + R_READER_INDEX, start_sequence)
            f.put_i64(off + R_WRITER_INDEX, start_sequence)
            for i in range(num_buffers):
                f.put_i32(off + R_AVAILABILITY + 4 * i, -1)
        if f.i64(self.dictionary + D_END) < self.dictionary + DICTIONARY_HEADER_SIZE:
            f.put_i64(self.dictionary + D_END, self.dictionary + DICTIONARY_HEADER_SIZE)
        self.rings = {name: _Ring(f, off) for name, off in zip(RINGS, offsets)}

    # dictionary

    def _ensure(self, end_abs):
        if end_abs <= self.f.size:
            return
        region = self.f.size - self.dictionary
        os.ftruncate(self.f.fd, self.dictionary + max(2 * region, end_abs - self.dictionary))
        self.f.remap()

    def write_entry(self, payload: bytes) -> int:
        data = encode_varint(len(payload)) + payload
        start = self.f.i64(self.dictionary + D_END)
        self.f.put_i64(self.dictionary + D_END, start + len(data))
        self._ensure(start + len(data))
        self.f.mm[start:start + len(data)] = data
        self.f.put_i64(self.dictionary + D_NUM_ENTRIES, self.f.i64(self.dictionary + D_NUM_ENTRIES) + 1)
        return start

    def write_string(self, s: str) -> int:
        return self.write_entry(s.encode("utf-8"))

    def write_message(self, msg) -> int:
        return self.write_entry(msg.SerializeToString())

    # rings

    def try_write(self, ring: str, msg) -> bool:
        """One attempt; False when the ring holds N-1 unread records."""
        r = self.rings[ring]
        cur = r.writer_index
        rd = r.reader_index
        if not cur + 1 - r.n < rd:
            return False
        payload = msg.SerializeToString()
        data = encode_varint(len(payload)) + payload
        if len(data) > r.b:
            # The reference claims the slot first and then fails, leaving it unpublished;
            # this test tool refuses before claiming instead.
            raise ValueError(f"record of {len(data)} bytes does not fit a {r.b}-byte slot")
        idx = cur + 1
        self.f.put_i64(r.offset + R_WRITER_INDEX, idx)
        s = r.slot(idx)
        self.f.mm[s:s + len(data)] = data
        self.f.put_i32(r.offset + R_AVAILABILITY + 4 * (idx & r.mask), self.flag(idx, r.shift))
        return True

    def write(self, ring: str, msg):
        if not self.try_write(ring, msg):
            raise RingFull(ring)

    def close(self):
        self.f.close()


# ------------------------------------------------------------------ reader

class ReferenceStyleReader:
    """Reads a file the way the reference reader does (see the module docstring)."""

    def __init__(self, path, flag=flag_truncate_first):
        self.pb = load_reference_schema()
        self.flag = flag
        fd = os.open(path, os.O_RDWR)
        self.f = _Mapped(path, fd)
        version = self.f.i64(H_VERSION)
        if version != 1:
            raise ValueError(f"OTLP mmap version mismatch. Found: {version}, Supported: [1]")
        self.start_time_unix_nano = self.f.u64(H_START_TIME)
        self.rings = {name: _Ring(self.f, self.f.i64(H_RING_OFFSET[name])) for name in RINGS}
        self.dictionary = self.f.i64(H_DICTIONARY)

    def header(self) -> dict:
        f = self.f
        out = {"version": f.i64(H_VERSION), "start_time_unix_nano": f.u64(H_START_TIME),
               "dictionary": f.i64(H_DICTIONARY), "unused": bytes(f.mm[48:64])}
        for name in RINGS:
            out[name] = f.i64(H_RING_OFFSET[name])
        return out

    def ring_header(self, ring: str) -> dict:
        r = self.rings[ring]
        return {"num_buffers": r.n, "buffer_size": r.b, "reader_index": r.reader_index,
                "writer_index": r.writer_index, "availability": [r.availability(i) for i in range(r.n)]}

    def dictionary_header(self) -> dict:
        return {"end": self.f.i64(self.dictionary + D_END), "num_entries": self.f.i64(self.dictionary + D_NUM_ENTRIES)}

    def try_read_payload(self, ring: str):
        r = self.rings[ring]
        nxt = r.reader_index + 1
        if r.availability(nxt) != self.flag(nxt, r.shift):
            return None
        s = r.slot(nxt)
        length, pos = decode_varint(self.f.mm, s, s + r.b)
        if length > s + r.b - pos:
            raise ValueError(f"{ring} slot {nxt}: length {length} exceeds the slot")
        payload = bytes(self.f.mm[pos:pos + length])
        return nxt, payload

    def try_read(self, ring: str):
        """The next record of `ring` as a message, or None. A record that does not decode
        raises without advancing, as the reference does."""
        got = self.try_read_payload(ring)
        if got is None:
            return None
        nxt, payload = got
        msg = ring_message_class(ring).FromString(payload)
        self.f.put_i64(self.rings[ring].offset + R_READER_INDEX, nxt)
        return msg

    def drain(self, ring: str) -> list:
        out = []
        while (m := self.try_read(ring)) is not None:
            out.append(m)
        return out

    def read_entry(self, ref: int) -> bytes:
        if ref < self.dictionary + DICTIONARY_HEADER_SIZE:
            raise KeyError(f"{ref} is not in the dictionary")
        for attempt in range(2):
            try:
                length, pos = decode_varint(self.f.mm, ref, self.f.size)
                if pos + length > self.f.size:
                    raise ValueError("entry runs past the end of the file")
                return bytes(self.f.mm[pos:pos + length])
            except ValueError:
                if attempt or os.fstat(self.f.fd).st_size == self.f.size:
                    raise
                self.f.remap()  # the file grew since it was mapped
        raise AssertionError("unreachable")

    def read_string(self, ref: int) -> str:
        return "" if ref == 0 else self.read_entry(ref).decode("utf-8")

    def read_resource(self, ref: int):
        return self.pb.Resource.FromString(self.read_entry(ref))

    def read_scope(self, ref: int):
        return self.pb.InstrumentationScope.FromString(self.read_entry(ref))

    def read_metric(self, ref: int):
        return self.pb.MetricRef.FromString(self.read_entry(ref))

    def read_any_value(self, ref: int):
        return self.pb.AnyValue.FromString(self.read_entry(ref))

    def close(self):
        self.f.close()
