"""Send request spans of one latency to SCALE's OTLP/HTTP receiver with the real OpenTelemetry
Python SDK, for tests/serve.rs (latency rules in `scale serve`).

Every tick of 1/RATE seconds the SDK records one SERVER span of `--service` that ends now and
lasted `--latency-ms`; the SDK's BatchSpanProcessor exports them with its OTLP/HTTP protobuf
exporter. Stops after `--seconds` (at most 60) and prints how many spans were sent.
"""

import argparse
import json
import time

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

MS = 1_000_000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True, help="http://HOST:PORT/v1/traces")
    ap.add_argument("--service", required=True)
    ap.add_argument("--latency-ms", type=float, required=True)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    seconds = min(max(a.seconds, 0.0), 60.0)
    provider = TracerProvider(resource=Resource.create({"service.name": a.service}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=a.endpoint, timeout=5), schedule_delay_millis=200)
    )
    tracer = provider.get_tracer("scale-test")
    sent = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = time.time_ns()
        span = tracer.start_span("GET /", kind=SpanKind.SERVER, start_time=now - int(a.latency_ms * MS))
        span.end(end_time=now)
        sent += 1
        time.sleep(1.0 / max(a.rate, 1.0))
    provider.shutdown()
    print(json.dumps({"sent": sent}))


if __name__ == "__main__":
    main()
