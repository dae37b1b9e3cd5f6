#!/usr/bin/env python3
"""Decodes Sieve's OTLP output with the official opentelemetry-proto definitions (PyPI package
opentelemetry-proto) and checks that the protobuf body and the OTLP-JSON line say the same thing.

    check_otlp.py request.pb request.json

request.pb: an ExportTraceServiceRequest in protobuf encoding (what Sieve POSTs to /v1/traces);
request.json: the same spans as one OTLP-JSON line (what --trace-file writes). Both are written by
test_trace when SIEVE_TRACE_DUMP names a folder. Exit 0 when they agree and are well-formed.
"""
import json
import sys

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status


def any_from_proto(v):
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return ("s", v.string_value)
    if kind == "bool_value":
        return ("b", v.bool_value)
    if kind == "int_value":
        return ("i", v.int_value)
    if kind == "double_value":
        return ("d", v.double_value)
    if kind == "array_value":
        return ("a", tuple(any_from_proto(x) for x in v.array_value.values))
    raise AssertionError(f"unexpected AnyValue {kind}")


def any_from_json(v):
    if "stringValue" in v:
        return ("s", v["stringValue"])
    if "boolValue" in v:
        return ("b", v["boolValue"])
    if "intValue" in v:
        assert isinstance(v["intValue"], str), "OTLP-JSON int64 must be a string"
        return ("i", int(v["intValue"]))
    if "doubleValue" in v:
        return ("d", float(v["doubleValue"]))
    if "arrayValue" in v:
        return ("a", tuple(any_from_json(x) for x in v["arrayValue"].get("values", [])))
    raise AssertionError(f"unexpected AnyValue {v}")


def main():
    pb_path, json_path = sys.argv[1], sys.argv[2]
    request = ExportTraceServiceRequest.FromString(open(pb_path, "rb").read())
    doc = json.loads(open(json_path).read())
    assert len(request.resource_spans) == 1 == len(doc["resourceSpans"])
    rs, jrs = request.resource_spans[0], doc["resourceSpans"][0]
    resource = {kv.key: any_from_proto(kv.value) for kv in rs.resource.attributes}
    jresource = {kv["key"]: any_from_json(kv["value"]) for kv in jrs["resource"]["attributes"]}
    assert resource == jresource, (resource, jresource)
    assert "service.name" in resource
    assert len(rs.scope_spans) == 1 == len(jrs["scopeSpans"])
    ss, jss = rs.scope_spans[0], jrs["scopeSpans"][0]
    assert ss.scope.name == jss["scope"]["name"] == "sieve"
    assert ss.scope.version == jss["scope"].get("version", "")
    assert len(ss.spans) == len(jss["spans"]) > 0
    ids = {s.span_id.hex() for s in ss.spans}
    for s, j in zip(ss.spans, jss["spans"]):
        assert len(s.trace_id) == 16 and len(s.span_id) == 8
        assert s.trace_id.hex() == j["traceId"] and s.span_id.hex() == j["spanId"]
        assert s.parent_span_id.hex() == j.get("parentSpanId", "")
        if s.parent_span_id:
            assert s.parent_span_id.hex() in ids, "parent in the batch"
        assert s.name == j["name"]
        assert s.kind == Span.SPAN_KIND_INTERNAL == j["kind"]
        assert s.start_time_unix_nano == int(j["startTimeUnixNano"]) > 1_600_000_000 * 10**9
        assert s.end_time_unix_nano == int(j["endTimeUnixNano"]) >= s.start_time_unix_nano
        attributes = [(kv.key, any_from_proto(kv.value)) for kv in s.attributes]
        jattributes = [(kv["key"], any_from_json(kv["value"])) for kv in j["attributes"]]
        assert attributes == jattributes, (attributes, jattributes)
        assert s.status.code == j["status"]["code"]
        assert s.status.code in (Status.STATUS_CODE_OK, Status.STATUS_CODE_ERROR)
        assert s.status.message == j["status"].get("message", "")
        kind = dict(attributes).get("openinference.span.kind", ("s", "-"))[1]
        print(f"  {s.name:<18} {kind:<10} span {s.span_id.hex()} parent "
              f"{s.parent_span_id.hex() or '-':<16} {len(attributes)} attributes, "
              f"{(s.end_time_unix_nano - s.start_time_unix_nano) / 1e6:.3f} ms")
    print(f"OK: {len(ss.spans)} spans decode with opentelemetry-proto and match the OTLP-JSON line")


if __name__ == "__main__":
    main()
