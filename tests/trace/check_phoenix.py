#!/usr/bin/env python3
"""Checks Sieve's traces against a running Arize Phoenix (started by scripts/test-phoenix).

Ingests a Cranfield sample with the fixture models, runs `sieve ask` (hybrid retrieval, the
fixture cross-encoder, and an LLM: a scripted OpenAI-protocol server on 127.0.0.1 started here)
with PHOENIX_COLLECTOR_ENDPOINT / PHOENIX_PROJECT_NAME, then asks Phoenix's own REST API
(GET /v1/projects/{project}/spans?trace_id=...) for the trace and checks: every span arrived,
one CHAIN root, the OpenInference span kinds (EMBEDDING, RETRIEVER, RERANKER, LLM), the retrieved
documents of the RETRIEVER spans, the reranker's input and output documents, and the LLM's
messages and token counts.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = "The boundary layer is the thin layer of fluid next to a surface [1]."


class FakeLlm(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body["messages"], body
        reply = {
            "id": "chatcmpl-1", "object": "chat.completion", "model": body.get("model", "m"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": ANSWER}}],
            "usage": {"prompt_tokens": 321, "completion_tokens": 17, "total_tokens": 338},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def get(attrs, dotted):
    """An attribute whether Phoenix returns it flat ("a.b.c") or nested ({"a": {"b": ...}})."""
    if dotted in attrs:
        return attrs[dotted]
    node = attrs
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def documents(attrs, prefix, inner="document"):
    """The list under `prefix` (e.g. retrieval.documents, each {"document": {...}}), whether
    Phoenix returns it nested or as flat "prefix.i.document.key" attributes."""
    nested = get(attrs, prefix)
    if isinstance(nested, list):
        return [d.get(inner, d) for d in nested]
    out, i = [], 0
    while any(k.startswith(f"{prefix}.{i}.") for k in attrs):
        out.append({k[len(f"{prefix}.{i}.{inner}."):]: v for k, v in attrs.items()
                    if k.startswith(f"{prefix}.{i}.{inner}.")})
        i += 1
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sieve", required=True)
    p.add_argument("--phoenix", required=True, help="Phoenix base URL")
    p.add_argument("--models", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--workdir", required=True)
    a = p.parse_args()

    llm = ThreadingHTTPServer(("127.0.0.1", 0), FakeLlm)
    threading.Thread(target=llm.serve_forever, daemon=True).start()
    llm_url = f"http://127.0.0.1:{llm.server_address[1]}/v1"

    index = os.path.join(a.workdir, "index")
    trace_file = os.path.join(a.workdir, "trace.jsonl")
    project = f"sieve-check-{os.getpid()}"
    env = dict(os.environ, HF_HUB_OFFLINE="1", PHOENIX_COLLECTOR_ENDPOINT=a.phoenix,
               PHOENIX_PROJECT_NAME=project)
    for k in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "SIEVE_LLM_URL"):
        env.pop(k, None)
    embed = os.path.join(a.models, "tiny-bge")
    rerank = os.path.join(a.models, "tiny-ms-marco")
    subprocess.run([a.sieve, "--index", index, "ingest", a.corpus, "--embed-model", embed],
                   check=True, env=dict(env, PHOENIX_COLLECTOR_ENDPOINT=""),
                   stdout=subprocess.DEVNULL)
    question = "what is the boundary layer"
    run = subprocess.run(
        [a.sieve, "--index", index, "--trace-file", trace_file, "ask", question,
         "--embed-model", embed, "--rerank-model", rerank, "--llm", llm_url,
         "--llm-model", "scripted", "--json"],
        check=True, env=env, capture_output=True, text=True)
    answer = json.loads(run.stdout)
    assert answer["answer"] == ANSWER, answer

    sent = []
    for line in open(trace_file):
        for rs in json.loads(line)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                sent += ss["spans"]
    trace_id = sent[0]["traceId"]
    assert all(s["traceId"] == trace_id for s in sent)

    url = (f"{a.phoenix}/v1/projects/{urllib.parse.quote(project)}/spans?"
           f"trace_id={trace_id}&limit=1000")
    spans, deadline = [], time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                spans = json.load(r)["data"]
        except urllib.error.HTTPError as e:
            if e.code != 404:  # the project appears with its first span
                raise
        if len(spans) >= len(sent):
            break
        time.sleep(0.5)
    assert len(spans) == len(sent), f"Phoenix has {len(spans)} of {len(sent)} spans"
    by_kind = {}
    for s in spans:
        by_kind.setdefault(s["span_kind"], []).append(s)
    print(f"Phoenix project {project!r}, trace {trace_id}: {len(spans)} spans")
    for s in sorted(spans, key=lambda s: s["start_time"]):
        print(f"  {s['span_kind']:<10} {s['name']:<20} parent {s.get('parent_id') or '-':<16} "
              f"status {s['status_code']}")

    roots = [s for s in spans if not s.get("parent_id")]
    assert len(roots) == 1 and roots[0]["span_kind"] == "CHAIN", roots
    root = roots[0]["attributes"]
    assert get(root, "input.value") == question, root
    assert get(root, "output.value") == ANSWER, root
    for kind in ("CHAIN", "EMBEDDING", "RETRIEVER", "RERANKER", "LLM"):
        assert kind in by_kind, f"no {kind} span: {sorted(by_kind)}"

    embedding = by_kind["EMBEDDING"][0]["attributes"]
    assert get(embedding, "embedding.model_name"), embedding
    print(f"EMBEDDING: model {get(embedding, 'embedding.model_name')}")

    names = set()
    for s in by_kind["RETRIEVER"]:
        docs = documents(s["attributes"], "retrieval.documents")
        assert docs and all(d.get("id") and d.get("content") and d.get("score") is not None
                            for d in docs), s
        names.add(s["name"])
        print(f"RETRIEVER {s['name']}: {len(docs)} documents, first {docs[0]['id']} "
              f"score {docs[0]['score']:.4f}")
    assert len(by_kind["RETRIEVER"]) >= 2, names  # lexical and dense

    rr = by_kind["RERANKER"][0]["attributes"]
    inputs = documents(rr, "reranker.input_documents")
    outputs = documents(rr, "reranker.output_documents")
    assert get(rr, "reranker.query") == question, rr
    assert get(rr, "reranker.model_name"), rr
    assert inputs and outputs and len(outputs) <= len(inputs), (len(inputs), len(outputs))
    assert {d["id"] for d in outputs} <= {d["id"] for d in inputs}
    scores = [d["score"] for d in outputs]
    assert scores == sorted(scores, reverse=True), scores
    print(f"RERANKER: {len(inputs)} input documents -> {len(outputs)} output documents, "
          f"top_k {get(rr, 'reranker.top_k')}")

    llm_span = by_kind["LLM"][0]["attributes"]
    assert get(llm_span, "llm.model_name") == "scripted", llm_span
    assert get(llm_span, "llm.token_count.prompt") == 321, llm_span
    assert get(llm_span, "llm.token_count.completion") == 17, llm_span
    assert get(llm_span, "llm.token_count.total") == 338, llm_span
    inputs_m = documents(llm_span, "llm.input_messages", "message")
    outputs_m = documents(llm_span, "llm.output_messages", "message")
    assert [m["role"] for m in inputs_m] == ["system", "user"], inputs_m
    assert question in inputs_m[-1]["content"], inputs_m
    assert outputs_m == [{"role": "assistant", "content": ANSWER}], outputs_m
    roles = inputs_m
    print(f"LLM: model scripted, {len(roles)} input messages, tokens 321 + 17 = 338")
    print("OK: Phoenix shows the trace with its span kinds, documents and reranker input/output")
    llm.shutdown()


if __name__ == "__main__":
    main()
