"""KEDA's side of the external-scaler contract, for tests/keda.rs.

Generates a Python gRPC client from proto/externalscaler.proto with grpc_tools.protoc into a
temp dir, calls IsActive, StreamIsActive (reads N messages), GetMetricSpec and GetMetrics,
and prints one JSON object with the answers. Usage:
    client.py PROTO ADDR METADATA_JSON STREAM_COUNT
Bad metadata cases: prints {"error": {"code": ..., "details": ...}} for GetMetrics.
"""
import json
import os
import subprocess
import sys
import tempfile


def main():
    proto, addr, metadata, count = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    out = tempfile.mkdtemp(prefix="scale-keda-client-")
    proto_dir, proto_file = os.path.split(os.path.abspath(proto))
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}",
         f"--python_out={out}", f"--grpc_python_out={out}", proto_file],
        check=True,
    )
    sys.path.insert(0, out)
    import grpc
    import externalscaler_pb2 as pb
    import externalscaler_pb2_grpc as rpc

    with grpc.insecure_channel(addr) as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        stub = rpc.ExternalScalerStub(ch)
        ref = pb.ScaledObjectRef(name="web", namespace="default", scalerMetadata=metadata)
        result = {}
        try:
            result["isActive"] = stub.IsActive(ref, timeout=60).result
            stream = stub.StreamIsActive(ref, timeout=60)
            result["stream"] = []
            for msg in stream:
                result["stream"].append(msg.result)
                if len(result["stream"]) >= count:
                    stream.cancel()
                    break
            spec = stub.GetMetricSpec(ref, timeout=60)
            result["metricSpecs"] = [
                {"metricName": s.metricName, "targetSize": s.targetSize, "targetSizeFloat": s.targetSizeFloat}
                for s in spec.metricSpecs
            ]
            name = spec.metricSpecs[0].metricName
            got = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref, metricName=name), timeout=60)
            result["metricValues"] = [
                {"metricName": v.metricName, "metricValue": v.metricValue, "metricValueFloat": v.metricValueFloat}
                for v in got.metricValues
            ]
        except grpc.RpcError as e:
            result["error"] = {"code": e.code().name, "details": e.details()}
        # The optional StreamMetricSpec: SCALE answers Unimplemented, KEDA then polls GetMetricSpec.
        try:
            next(iter(stub.StreamMetricSpec(ref, timeout=10)))
            result["streamMetricSpec"] = "OK"
        except grpc.RpcError as e:
            result["streamMetricSpec"] = e.code().name
    print(json.dumps(result))


if __name__ == "__main__":
    main()
