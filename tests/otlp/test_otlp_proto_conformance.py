"""Our OTLP .proto files (proto/otlp/) must be wire-identical to the official OTLP protocol.

The official reference is the `opentelemetry-proto` PyPI package in .venv. Our files declare
the same proto packages and file names, so the two sets cannot live in one descriptor pool:

* in this process, ours are compiled by grpc_tools.protoc into a FileDescriptorSet and loaded
  into a *separate* DescriptorPool (the official ones stay in the default pool);
* the generated Python/gRPC code of ours is imported only in a child process
  (tests/otlp/_ours_grpc_server.py) whose sys.path shadows the official package.

Checked: every message, field (number, type, label, presence, oneof, message/enum type,
json name, packing), reserved range, enum value and gRPC method matches; every field of
the official messages exists in ours; bytes serialized by the official modules parse with
ours to the same content and re-serialize to the same bytes (and back); a gRPC server
built from our generated stubs accepts Export calls from the official gRPC stubs.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor as _d
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf import unknown_fields

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "proto" / "otlp"
HERE = Path(__file__).resolve().parent

# proto file -> official Python module (relative to opentelemetry.proto)
FILES = {
    "opentelemetry/proto/common/v1/common.proto": "common.v1.common_pb2",
    "opentelemetry/proto/resource/v1/resource.proto": "resource.v1.resource_pb2",
    "opentelemetry/proto/trace/v1/trace.proto": "trace.v1.trace_pb2",
    "opentelemetry/proto/metrics/v1/metrics.proto": "metrics.v1.metrics_pb2",
    "opentelemetry/proto/logs/v1/logs.proto": "logs.v1.logs_pb2",
    "opentelemetry/proto/collector/trace/v1/trace_service.proto": "collector.trace.v1.trace_service_pb2",
    "opentelemetry/proto/collector/metrics/v1/metrics_service.proto": "collector.metrics.v1.metrics_service_pb2",
    "opentelemetry/proto/collector/logs/v1/logs_service.proto": "collector.logs.v1.logs_service_pb2",
}

# Parts of the official protocol that we deliberately do NOT define, with the reason.
# Keys are full names of official messages/fields (a message key omits it whole).
# Everything else of the files above must exist in ours; an entry here that ours does
# define (or that the official package no longer has) fails the test, so the list stays true.
DELIBERATELY_OMITTED: dict[str, str] = {
    # Nothing inside the eight files above is omitted: the collector may need any of it,
    # and a missing field would silently turn into unknown bytes.
}
# Whole official files we do not define (not compared; listed for the record).
OMITTED_FILES = {
    "opentelemetry/proto/profiles/v1development/profiles.proto":
        "profiles signal (development status): otlp-mmap carries no profiles",
    "opentelemetry/proto/collector/profiles/v1development/profiles_service.proto":
        "profiles export service: see above",
}

REQUESTS = {
    "trace": "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
    "metrics": "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest",
    "logs": "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest",
}


def _official_file(proto_name: str) -> _d.FileDescriptor:
    return importlib.import_module("opentelemetry.proto." + FILES[proto_name]).DESCRIPTOR


def _protoc(*args: str) -> None:
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}", *args,
           *sorted(str(PROTO_ROOT / f) for f in FILES)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"protoc failed:\n{res.stdout}\n{res.stderr}"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    """Compile ours once: a descriptor set plus generated Python and gRPC Python code."""
    out = tmp_path_factory.mktemp("otlp_ours")
    (out / "py").mkdir()
    _protoc(f"--descriptor_set_out={out / 'ours.pb'}", "--include_imports",
            f"--python_out={out / 'py'}", f"--grpc_python_out={out / 'py'}")
    # Make every generated directory a regular package, so that in the child process
    # `opentelemetry` resolves to ours alone instead of merging with site-packages.
    for d in [p for p in (out / "py").rglob("*") if p.is_dir()]:
        (d / "__init__.py").touch()
    return out


@pytest.fixture(scope="module")
def ours_pool(compiled) -> descriptor_pool.DescriptorPool:
    fds = descriptor_pb2.FileDescriptorSet.FromString((compiled / "ours.pb").read_bytes())
    assert sorted(f.name for f in fds.file) == sorted(FILES), "unexpected set of compiled files"
    pool = descriptor_pool.DescriptorPool()  # separate from the default pool
    for fdp in fds.file:
        pool.Add(fdp)
    return pool


def _all_messages(container):
    for m in container.message_types_by_name.values():
        yield from _walk_message(m)


def _walk_message(m):
    yield m
    for n in m.nested_types:
        yield from _walk_message(n)


def _all_enums(fd):
    yield from fd.enum_types_by_name.values()
    for m in _all_messages(fd):
        yield from m.enum_types


def _oneof_name(f):
    return f.containing_oneof.name if f.containing_oneof else None


def _field_signature(f) -> dict:
    return {
        "number": f.number,
        "type": f.type,
        "cpp_type": f.cpp_type,
        "repeated": f.is_repeated,
        "has_presence": f.has_presence,
        "oneof": _oneof_name(f),
        "message_type": f.message_type.full_name if f.message_type else None,
        "enum_type": f.enum_type.full_name if f.enum_type else None,
        "json_name": f.json_name,
        "packed": getattr(f, "is_packed", None),
    }


def _reserved(m) -> tuple:
    p = descriptor_pb2.DescriptorProto()
    m.CopyToProto(p)
    return sorted((r.start, r.end) for r in p.reserved_range), sorted(p.reserved_name)


def test_files_and_packages(ours_pool):
    for name in FILES:
        ours, official = ours_pool.FindFileByName(name), _official_file(name)
        assert ours.package == official.package, name
        assert sorted(d.name for d in ours.dependencies) == sorted(d.name for d in official.dependencies), name
        p = descriptor_pb2.FileDescriptorProto()
        ours.CopyToProto(p)
        assert p.syntax == "proto3", name
    for name in OMITTED_FILES:
        with pytest.raises(KeyError):
            ours_pool.FindFileByName(name)


def test_messages_fields_match_official(ours_pool):
    problems = []
    omitted_seen = set()
    n_fields = 0
    for name in FILES:
        official_fd = _official_file(name)
        ours_fd = ours_pool.FindFileByName(name)
        official_msgs = {m.full_name: m for m in _all_messages(official_fd)}
        ours_msgs = {m.full_name: m for m in _all_messages(ours_fd)}
        for extra in sorted(set(ours_msgs) - set(official_msgs)):
            problems.append(f"{extra}: message not in the official protocol")
        for full, om in official_msgs.items():
            if full in DELIBERATELY_OMITTED:
                omitted_seen.add(full)
                if full in ours_msgs:
                    problems.append(f"{full}: listed as omitted but defined")
                continue
            m = ours_msgs.get(full)
            if m is None:
                problems.append(f"{full}: message missing")
                continue
            if _reserved(m) != _reserved(om):
                problems.append(f"{full}: reserved {_reserved(m)} != official {_reserved(om)}")
            ours_oneofs = sorted(o.name for o in m.oneofs)
            official_oneofs = sorted(o.name for o in om.oneofs)
            if ours_oneofs != official_oneofs:
                problems.append(f"{full}: oneofs {ours_oneofs} != official {official_oneofs}")
            for extra in sorted(set(m.fields_by_name) - set(om.fields_by_name)):
                problems.append(f"{full}.{extra}: field not in the official protocol")
            if len(m.fields_by_number) != len(m.fields):
                problems.append(f"{full}: duplicate field numbers")
            for fname, of in om.fields_by_name.items():
                key = f"{full}.{fname}"
                if key in DELIBERATELY_OMITTED:
                    omitted_seen.add(key)
                    if fname in m.fields_by_name:
                        problems.append(f"{key}: listed as omitted but defined")
                    continue
                f = m.fields_by_name.get(fname)
                if f is None:
                    problems.append(f"{key}: field missing")
                    continue
                n_fields += 1
                a, b = _field_signature(f), _field_signature(of)
                for k in a:
                    if a[k] != b[k]:
                        problems.append(f"{key}: {k} ours={a[k]!r} official={b[k]!r}")
    for stale in sorted(set(DELIBERATELY_OMITTED) - omitted_seen):
        problems.append(f"{stale}: in DELIBERATELY_OMITTED but not in the official protocol")
    assert not problems, "\n".join(problems)
    assert n_fields > 150  # sanity: the walk really covered the protocol


def test_enums_match_official(ours_pool):
    problems = []
    for name in FILES:
        official = {e.full_name: e for e in _all_enums(_official_file(name))}
        ours = {e.full_name: e for e in _all_enums(ours_pool.FindFileByName(name))}
        if sorted(ours) != sorted(official):
            problems.append(f"{name}: enums {sorted(ours)} != official {sorted(official)}")
        for full in sorted(set(ours) & set(official)):
            a = [(v.name, v.number) for v in ours[full].values]
            b = [(v.name, v.number) for v in official[full].values]
            if sorted(a) != sorted(b):
                problems.append(f"{full}: values {a} != official {b}")
    assert not problems, "\n".join(problems)


def test_services_match_official(ours_pool):
    seen = 0
    for name in FILES:
        official_fd = _official_file(name)
        ours_fd = ours_pool.FindFileByName(name)
        assert sorted(ours_fd.services_by_name) == sorted(official_fd.services_by_name), name
        for sname, osvc in official_fd.services_by_name.items():
            svc = ours_fd.services_by_name[sname]
            assert svc.full_name == osvc.full_name
            assert sorted(svc.methods_by_name) == sorted(osvc.methods_by_name) == ["Export"]
            for mname, om in osvc.methods_by_name.items():
                m = svc.methods_by_name[mname]
                assert m.input_type.full_name == om.input_type.full_name
                assert m.output_type.full_name == om.output_type.full_name
                assert (m.client_streaming, m.server_streaming) == (om.client_streaming, om.server_streaming) == (False, False)
                seen += 1
    assert seen == 3


# ---------------------------------------------------------------------------------------
# Round trip with content that sets every field (and every oneof member) at least once.

def _scalar(f, variant: int):
    t = _d.FieldDescriptor
    if f.type == t.TYPE_STRING:
        return f"{f.name}-{variant}-\u00e9"
    if f.type == t.TYPE_BYTES:
        return bytes([variant + 1]) * (16 if f.name == "trace_id" else 8)
    if f.type == t.TYPE_BOOL:
        return True
    if f.type in (t.TYPE_DOUBLE, t.TYPE_FLOAT):
        return 0.25 + variant
    if f.type == t.TYPE_ENUM:
        values = f.enum_type.values
        return values[1 + variant % (len(values) - 1)].number
    if f.type in (t.TYPE_SINT32, t.TYPE_SINT64, t.TYPE_SFIXED64, t.TYPE_INT64):
        return -(variant + 2) if f.type != t.TYPE_INT64 else (1 << 40) + variant
    if f.type in (t.TYPE_FIXED64, t.TYPE_UINT64):
        return (1 << 62) + variant
    return 7 + variant  # int32, uint32, fixed32


def _widest_oneof(desc, seen=()) -> int:
    """Largest real oneof in desc or in the messages of its singular fields."""
    sizes = [len(o.fields) for o in desc.oneofs if len(o.fields) > 1] + [1]
    for f in desc.fields:
        if f.message_type is not None and not f.is_repeated and f.message_type not in seen:
            sizes.append(_widest_oneof(f.message_type, (*seen, desc)))
    return max(sizes)


def _fill(msg, variant: int, depth: int, covered: set) -> None:
    """Set every field of msg; in each oneof only member number `variant % size`."""
    desc = msg.DESCRIPTOR
    for f in desc.fields:
        oneof = f.containing_oneof
        if oneof is not None and len(oneof.fields) > 1:  # real oneof (not proto3 `optional`)
            if oneof.fields[variant % len(oneof.fields)] is not f:
                continue
        if f.message_type is not None:
            if depth <= 0:
                continue
            if f.is_repeated:
                # Enough elements to visit every oneof member of the element type.
                n = max(_widest_oneof(f.message_type), 2)
                for i in range(n if depth > 2 else 1):
                    _fill(getattr(msg, f.name).add(), i, depth - 1, covered)
            else:
                _fill(getattr(msg, f.name), variant, depth - 1, covered)
        elif f.is_repeated:
            getattr(msg, f.name).extend(_scalar(f, variant + i) for i in range(3))
        else:
            setattr(msg, f.name, _scalar(f, variant))
        covered.add(f.full_name)


def _official_request(signal: str):
    module = importlib.import_module(
        f"opentelemetry.proto.collector.{signal}.v1.{signal}_service_pb2")
    cls = getattr(module, REQUESTS[signal].rsplit(".", 1)[1])
    msg = cls()
    covered: set = set()
    _fill(msg, 0, 9, covered)
    return msg, covered


def _assert_no_unknown_fields(msg, path="") -> None:
    assert len(unknown_fields.UnknownFieldSet(msg)) == 0, f"unknown fields at {path or 'root'}"
    for f, value in msg.ListFields():
        if f.message_type is None:
            continue
        items = value if f.is_repeated else [value]
        for i, item in enumerate(items):
            _assert_no_unknown_fields(item, f"{path}.{f.name}[{i}]")


def test_round_trip_every_field(ours_pool):
    covered_all: set = set()
    for signal, full in REQUESTS.items():
        official, covered = _official_request(signal)
        covered_all |= covered
        wire = official.SerializeToString(deterministic=True)
        ours_cls = message_factory.GetMessageClass(ours_pool.FindMessageTypeByName(full))
        ours = ours_cls.FromString(wire)
        _assert_no_unknown_fields(ours)
        assert ours.SerializeToString(deterministic=True) == wire, signal
        assert json_format.MessageToDict(ours) == json_format.MessageToDict(official), signal
        back = type(official).FromString(ours.SerializeToString())
        assert back == official, signal
        # Built by ours from JSON, read by the official module.
        from_json = json_format.Parse(json_format.MessageToJson(official), ours_cls())
        assert type(official).FromString(from_json.SerializeToString()) == official, signal

    # The content really exercised every official field of the compared files.
    expected = {
        f.full_name
        for name in FILES for m in _all_messages(_official_file(name)) for f in m.fields
        if f.full_name not in DELIBERATELY_OMITTED and m.full_name not in DELIBERATELY_OMITTED
        and not m.full_name.endswith("Response") and not m.full_name.endswith("PartialSuccess")
        and not m.full_name.endswith("Data")  # TracesData etc.: same content as the requests
    }
    assert not expected - covered_all, sorted(expected - covered_all)


def test_response_round_trip(ours_pool):
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as official_logs

    official = official_logs.ExportLogsServiceResponse()
    official.partial_success.rejected_log_records = 3
    official.partial_success.error_message = "dropped"
    ours_cls = message_factory.GetMessageClass(ours_pool.FindMessageTypeByName(
        "opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse"))
    ours = ours_cls.FromString(official.SerializeToString())
    assert ours.partial_success.rejected_log_records == 3
    assert ours.partial_success.error_message == "dropped"
    assert ours.SerializeToString() == official.SerializeToString()


# ---------------------------------------------------------------------------------------
# gRPC: a server made from our generated stubs, in a child process, called by the official
# stubs. Proves the method paths and that the request bytes arrive unchanged.

def test_grpc_export_paths_with_generated_code(compiled):
    import grpc
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    env = dict(os.environ, PYTHONPATH=str(compiled / "py"), PYTHONNOUSERSITE="1")
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_ours_grpc_server.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        line = proc.stdout.readline() if ready else ""  # "PORT <n>" once serving
        assert line.startswith("PORT "), f"server did not start: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        port = int(line.split()[1])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=5)
            stubs = {
                "trace": (trace_service_pb2_grpc.TraceServiceStub(channel), "rejected_spans"),
                "metrics": (metrics_service_pb2_grpc.MetricsServiceStub(channel), "rejected_data_points"),
                "logs": (logs_service_pb2_grpc.LogsServiceStub(channel), "rejected_log_records"),
            }
            for signal, (stub, counter) in stubs.items():
                request, _ = _official_request(signal)
                response = stub.Export(request, timeout=5)
                ps = response.partial_success
                # The server reports the number of top-level resource entries it parsed and
                # the sha256 of its own deterministic re-serialization.
                expected_hash = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()
                assert getattr(ps, counter) == len(request.ListFields()[0][1]), signal
                assert ps.error_message == f"{signal} {expected_hash}", signal
    finally:
        if proc.poll() is None:
            proc.stdin.close()  # tells the server to stop
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        stderr = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0, stderr
