"""Send ordinary spans and a few with huge durations through the real OpenTelemetry Python SDK.

Used by tests/sample_stream.rs. Two services, each its own resource (with extra resource
attributes) and instrumentation scope: `frontend` exports over OTLP/gRPC, `cart` over OTLP/HTTP
protobuf. Spans are recorded with explicit start/end times and attributes, then exported one
batch at a time (each export returns before the next starts), so the receiver sees them in the
order printed. Every span `--shock-every`-th after `--warm-up` lasts (d + 10 ms) x 200.

Prints one JSON object: {"spans": [...]} in the order the receiver got them (the SDK's own
encoding of each batch), each with ids in hex, service, name, start/end and attributes.
"""

import argparse
import json

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

MS = 1_000_000


class Service:
    def __init__(self, name, exporter):
        self.name = name
        self.memory = InMemorySpanExporter()
        resource = Resource.create({"service.name": name, "k8s.pod.name": f"{name}-0", "deployment.environment": "e2e"})
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = self.provider.get_tracer("scale-e2e", "1.2.3")
        self.exporter = exporter

    def flush(self):
        batch = list(self.memory.get_finished_spans())
        self.memory.clear()
        if not batch:
            return []
        result = self.exporter.export(batch)
        if result != SpanExportResult.SUCCESS:
            raise SystemExit(f"{self.name}: export failed: {result}")
        out = []
        for rs in encode_spans(batch).resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.append(
                        {
                            "service": self.name,
                            "trace_id": s.trace_id.hex(),
                            "span_id": s.span_id.hex(),
                            "name": s.name,
                            "start_ns": s.start_time_unix_nano,
                            "end_ns": s.end_time_unix_nano,
                            "attributes": {kv.key: kv.value.string_value or kv.value.int_value for kv in s.attributes},
                        }
                    )
        return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--grpc", required=True)
    p.add_argument("--http", required=True)
    p.add_argument("--base", type=int, required=True, help="start of the first span, unix ns")
    p.add_argument("--spans", type=int, default=1200)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--warm-up", type=int, default=400)
    p.add_argument("--shock-every", type=int, default=131)
    a = p.parse_args()

    services = [
        Service("frontend", GrpcExporter(endpoint=a.grpc, insecure=True, timeout=10)),
        Service("cart", HttpExporter(endpoint=a.http + "/v1/traces", timeout=10)),
    ]
    ops = {"frontend": ["GET /", "GET /product/{id}", "POST /cart"], "cart": ["GetCart", "AddItem"]}
    sent = []
    for i in range(a.spans):
        svc = services[(i // a.batch) % 2]
        op = ops[svc.name][i % len(ops[svc.name])]
        d = (10 + (i * 7919) % 5) * MS
        shocked = i >= a.warm_up and i % a.shock_every == 0
        if shocked:
            d = (d + 10 * MS) * 200
        start = a.base + i * 10 * MS
        s = svc.tracer.start_span(op, kind=SpanKind.SERVER, start_time=start)
        s.set_attribute("seq", i)
        s.set_attribute("shocked", "yes" if shocked else "no")
        s.end(end_time=start + d)
        if (i + 1) % a.batch == 0 or i + 1 == a.spans:
            sent.extend(svc.flush())
    for svc in services:
        svc.provider.shutdown()
    print(json.dumps({"spans": sent}))


if __name__ == "__main__":
    main()
