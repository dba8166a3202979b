"""Child process of test_otlp_proto_conformance.py: a gRPC server built from the Python code
that grpc_tools.protoc generated from OUR proto/otlp files (found through PYTHONPATH, which
shadows the official opentelemetry-proto package, so the two never share a descriptor pool).

Serves TraceService, MetricsService and LogsService on 127.0.0.1:<free port>, prints
"PORT <n>", and answers each Export with a partial_success whose counter is the number of
resource entries parsed and whose error_message is "<signal> <sha256 of our deterministic
re-serialization>". Stops when stdin closes, or after 60 s at the latest.
"""

import hashlib
import os
import sys
import threading
from concurrent import futures

import grpc

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

_ours = os.environ["PYTHONPATH"].split(os.pathsep)[0]
for _m in (logs_service_pb2, metrics_service_pb2, trace_service_pb2, logs_service_pb2_grpc):
    if not os.path.abspath(_m.__file__).startswith(os.path.abspath(_ours)):
        sys.exit(f"imported {_m.__name__} from {_m.__file__}, not from our generated code")


def _digest(signal, request):
    return f"{signal} {hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()}"


class Trace(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):
        r = trace_service_pb2.ExportTraceServiceResponse()
        r.partial_success.rejected_spans = len(request.resource_spans)
        r.partial_success.error_message = _digest("trace", request)
        return r


class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def Export(self, request, context):
        r = metrics_service_pb2.ExportMetricsServiceResponse()
        r.partial_success.rejected_data_points = len(request.resource_metrics)
        r.partial_success.error_message = _digest("metrics", request)
        return r


class Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def Export(self, request, context):
        r = logs_service_pb2.ExportLogsServiceResponse()
        r.partial_success.rejected_log_records = len(request.resource_logs)
        r.partial_success.error_message = _digest("logs", request)
        return r


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Trace(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait(timeout=60)
    server.stop(grace=1).wait(timeout=5)


if __name__ == "__main__":
    main()
