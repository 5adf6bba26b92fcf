"""Emit a known set of spans with the real OpenTelemetry Python SDK to SCALE's OTLP receivers.

Used by tests/otlp.rs. Spans are recorded by the SDK (explicit start/end times, statuses, remote
parents across services), then exported with the SDK's own OTLP exporters:
  frontend (two pods)  -> OTLP/HTTP protobuf   (opentelemetry-exporter-otlp-proto-http)
  cart, db             -> OTLP/gRPC            (opentelemetry-exporter-otlp-proto-grpc)
  auth                 -> OTLP/HTTP JSON: the SDK's protobuf request in the OTLP JSON mapping
                          (hex ids, camelCase, enums as integers), POSTed as application/json
Prints one JSON object: every span sent (the manifest) and the JSON response.

With --grpc-compression=gzip the gRPC exporter compresses. With --malformed-grpc it instead sends
raw gRPC messages (truncated, oversized, valid, valid gzipped, a gzip bomb) and prints the status
code of each.
"""

import argparse
import base64
import json
import sys
import urllib.request

import grpc
from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

MS = 1_000_000
S = 1_000_000_000
EXPORT_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class Service:
    """One resource (service + pod) with an in-memory recorder."""

    def __init__(self, name, pod):
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": name, "k8s.pod.name": pod}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = self.provider.get_tracer("scale-test")

    def span(self, name, start, end, parent=None, kind=SpanKind.SERVER, error=False):
        ctx = trace.set_span_in_context(NonRecordingSpan(parent)) if parent is not None else None
        s = self.tracer.start_span(name, context=ctx, kind=kind, start_time=start)
        if error:
            s.set_status(Status(StatusCode.ERROR, "failed"))
        s.end(end_time=end)
        return s.get_span_context()

    def finished(self):
        return list(self.memory.get_finished_spans())


def remote(ctx):
    return SpanContext(ctx.trace_id, ctx.span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))


def record(base):
    """The known set. Window 0 = [base, base+60 s), window 1 = [base+60 s, base+120 s)."""
    front = [Service("frontend", "frontend-aaa"), Service("frontend", "frontend-bbb")]
    cart = Service("cart", "cart-0")
    db = Service("db", "db-0")
    auth = Service("auth", "auth-0")
    # Window 0: 20 frontend requests of 10..200 ms, every 5th an error; each has an internal span
    # (not a request) and the first 10 call cart (5..50 ms, the 4th an error).
    for i in range(20):
        f = front[i % 2]
        start = base + i * S
        root = f.span("GET /", start, start + (i + 1) * 10 * MS, error=(i % 5 == 0))
        f.span("render", start + MS, start + 2 * MS, parent=remote(root), kind=SpanKind.INTERNAL)
        if i < 10:
            call = f.span("call cart", start + 2 * MS, start + 3 * MS, parent=remote(root), kind=SpanKind.CLIENT)
            c = cart.span("GetCart", start + 2 * MS, start + 2 * MS + (i + 1) * 5 * MS, parent=remote(call), error=(i == 3))
            # cart's own client span to db: db's request is an entry of db, cart's span is not.
            q = cart.span("query", start + 3 * MS, start + 4 * MS, parent=remote(c), kind=SpanKind.CLIENT)
            if i < 3:
                db.span("SELECT", start + 3 * MS, start + 3 * MS + (i + 1) * MS, parent=remote(q), error=(i == 2))
    # Window 1: 5 frontend requests of 100..500 ms; 4 auth requests of 7 ms (sent as JSON).
    for i in range(5):
        start = base + 60 * S + i * S
        front[0].span("GET /", start, start + (i + 1) * 100 * MS)
    for i in range(4):
        start = base + 61 * S + i * S
        auth.span("Login", start, start + 7 * MS, error=(i == 0))
    return front, cart, db, auth


def manifest(spans):
    out = []
    for s in spans:
        out.append({
            "trace_id": format(s.context.trace_id, "032x"),
            "span_id": format(s.context.span_id, "016x"),
            "parent_id": format(s.parent.span_id, "016x") if s.parent is not None else None,
            "service": s.resource.attributes["service.name"],
            "pod": s.resource.attributes["k8s.pod.name"],
            "name": s.name,
            "start_ns": s.start_time,
            "end_ns": s.end_time,
            "error": s.status.status_code == StatusCode.ERROR,
        })
    return out


def otlp_json(spans):
    """The SDK's request in the OTLP JSON mapping: like proto3 JSON but ids in hex, not base64."""
    doc = json_format.MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in sp:
                        sp[key] = base64.b64decode(sp[key]).hex()
    return json.dumps(doc).encode()


def send(args):
    front, cart, db, auth = record(args.base)
    http = HttpExporter(endpoint=f"{args.http}/v1/traces", timeout=10)
    # --grpc-compression=gzip: the SDK's own gzip, as the OpenTelemetry Collector sends by default.
    compression = grpc.Compression.Gzip if args.grpc_compression == "gzip" else None
    grpc_exp = GrpcExporter(endpoint=args.grpc, insecure=True, timeout=10, compression=compression)
    sent = []
    for f in front:
        spans = f.finished()
        assert http.export(spans) == SpanExportResult.SUCCESS, "frontend over OTLP/HTTP failed"
        sent += spans
    for svc in (cart, db):
        spans = svc.finished()
        assert grpc_exp.export(spans) == SpanExportResult.SUCCESS, "OTLP/gRPC export failed"
        sent += spans
    spans = auth.finished()
    req = urllib.request.Request(
        f"{args.http}/v1/traces", data=otlp_json(spans), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        json_response = {"status": r.status, "content_type": r.headers.get("Content-Type"), "body": r.read().decode()}
    sent += spans
    http.shutdown()
    grpc_exp.shutdown()
    print(json.dumps({"spans": manifest(sent), "json_response": json_response}))


def malformed_grpc(args):
    """Raw gRPC messages, so the bytes can be wrong: truncated, oversized, then a valid one."""
    svc = Service("web", "web-0")
    svc.span("GET /", args.base, args.base + MS)
    valid = encode_spans(svc.finished()).SerializeToString()
    channel = grpc.insecure_channel(args.grpc)
    call = channel.unary_unary(EXPORT_PATH, request_serializer=None, response_deserializer=None)
    out = {}
    cases = (
        ("truncated", valid[:-5], None),
        ("oversized", b"\x0a" * (args.oversize), None),
        ("valid", valid, None),
        # gzip: a valid message, and one small on the wire that inflates past the limit
        ("gzip_valid", valid, grpc.Compression.Gzip),
        ("gzip_bomb", b"\x0a" * (args.oversize * 4), grpc.Compression.Gzip),
    )
    for name, body, compression in cases:
        try:
            call(body, timeout=10, compression=compression)
            out[name] = "OK"
        except grpc.RpcError as e:
            out[name] = e.code().name
            out[name + "_message"] = e.details()
    channel.close()
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--http", help="base URL of the OTLP/HTTP receiver, e.g. http://127.0.0.1:4318")
    p.add_argument("--grpc", required=True, help="host:port of the OTLP/gRPC receiver")
    p.add_argument("--base", type=int, required=True, help="window-aligned start time, unix ns")
    p.add_argument("--grpc-compression", choices=["none", "gzip"], default="none")
    p.add_argument("--malformed-grpc", action="store_true")
    p.add_argument("--oversize", type=int, default=1 << 20, help="bytes of the oversized message")
    args = p.parse_args()
    if args.malformed_grpc:
        malformed_grpc(args)
    else:
        send(args)


if __name__ == "__main__":
    sys.exit(main())
