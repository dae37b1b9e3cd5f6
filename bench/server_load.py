#!/usr/bin/env python3
"""Load test of `sieve serve` on loopback, bounded in time (standard library only).

Starts build/sieve serve on a free 127.0.0.1 port with the fixture models and an index of
samples/, then measures:
  1. batching gain: N single-text /v1/embeddings requests from 32 connections at once against the
     same N sent one after another (throughput ratio); the same for N single-document /v1/rerank
     requests (each its own query);
  2. mixed load: /v1/query, /v1/embeddings and /v1/rerank from 32 connections while documents are
     added: throughput, p50/p99 per endpoint, errors, the server's peak RSS;
  3. SIGKILL during an upload, restart: the index opens, the document is absent or complete, and
     the retried upload completes it.

  bench/server_load.py [--duration 20] [--connections 32] [--short]

--short (CI) runs a few seconds of each. Prints one JSON summary; exits 1 on any error response
or a failed crash check. Timings are reported, never asserted.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "tests", "data", "models")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


EMBED_MODEL = os.path.join(MODELS, "tiny-bge")
RERANK_MODEL = os.path.join(MODELS, "tiny-ms-marco")


def start_server(binary, index, port, extra=()):
    cmd = [binary, "--index", index, "serve", "--host", "127.0.0.1", "--port", str(port),
           "--embed-model", EMBED_MODEL, "--rerank-model", RERANK_MODEL, *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited: " + proc.stderr.read())
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not become ready")


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = None

    def request(self, method, path, body=None, headers=None, timeout=60):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                # Bytes, so http.client sends headers and body in one write (no Nagle/delayed-ACK
                # stall of ~40 ms per request that would be the client's, not the server's).
                data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
                h = {"Content-Type": "application/json"} if isinstance(body, (dict, list)) else {}
                h.update(headers or {})
                self.conn.request(method, path, body=data, headers=h)
                res = self.conn.getresponse()
                payload = res.read()
                return res.status, payload
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise RuntimeError("unreachable")


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


def run_threads(n, target):
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def batch_counters(port, histogram="sieve_batch_texts"):
    """(inputs, batches) so far of a batch histogram of the server's /metrics."""
    _, payload = Client(port).request("GET", "/metrics")
    values = {}
    for line in payload.decode().splitlines():
        if line.startswith((histogram + "_sum ", histogram + "_count ")):
            name, value = line.split()
            values[name] = float(value)
    return values.get(histogram + "_sum", 0.0), values.get(histogram + "_count", 0.0)


def cpu_seconds(pid):
    """User + system CPU time the process has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def embed_body(i):
    return {"input": "sample sentence number %d about retrieval and ranking" % i}


def rerank_body(i):
    return {"query": "question number %d about ranking" % i,
            "documents": ["sample passage number %d about retrieval and ranking" % i]}


def batching_gain(port, count, connections, pid, path="/v1/embeddings", body=embed_body,
                  histogram="sieve_batch_texts"):
    """Throughput of `count` requests body(i) to `path` one after another, then from
    `connections` connections at once; the mean batch from `histogram`."""
    texts = [body(i) for i in range(count)]
    client = Client(port)
    cpu_start = cpu_seconds(pid)
    start = time.perf_counter()
    for t in texts:
        status, _ = client.request("POST", path, t)
        assert status == 200, status
    sequential = time.perf_counter() - start
    sequential_cpu = cpu_seconds(pid) - cpu_start

    errors = []

    def worker(i):
        c = Client(port)
        for t in texts[i::connections]:
            status, _ = c.request("POST", path, t)
            if status != 200:
                errors.append(status)

    texts_before, batches_before = batch_counters(port, histogram)
    cpu_start = cpu_seconds(pid)
    start = time.perf_counter()
    run_threads(connections, worker)
    concurrent = time.perf_counter() - start
    concurrent_cpu = cpu_seconds(pid) - cpu_start
    texts_after, batches_after = batch_counters(port, histogram)
    batches = batches_after - batches_before
    return {"requests": count, "sequential_rps": round(count / sequential, 1),
            "concurrent_rps": round(count / concurrent, 1),
            "gain": round(sequential / concurrent, 2), "errors": len(errors),
            # Server CPU time per request, sequential over concurrent: the gain in work per
            # request, which other load on the machine does not skew the way it skews wall time.
            "cpu_ms_per_request_sequential": round(1000 * sequential_cpu / count, 2),
            "cpu_ms_per_request_concurrent": round(1000 * concurrent_cpu / count, 2),
            "cpu_gain": round(sequential_cpu / concurrent_cpu, 2) if concurrent_cpu else None,
            "concurrent_mean_batch_texts":
                round((texts_after - texts_before) / batches, 1) if batches else None}


def mixed_load(port, duration, connections, samples_text):
    lat = {"/v1/query": [], "/v1/embeddings": [], "/v1/rerank": []}
    errors = []
    lock = threading.Lock()
    stop_at = time.time() + duration
    bodies = {
        "/v1/query": {"query": "how does reciprocal rank fusion combine lists?", "top_n": 3},
        "/v1/embeddings": {"input": ["a short text to embed", "and another one"]},
        "/v1/rerank": {"query": "what is a cross-encoder",
                       "documents": samples_text[:8]},
    }
    endpoints = list(bodies)

    def worker(i):
        c = Client(port)
        n = i
        while time.time() < stop_at:
            path = endpoints[n % 3]
            n += 1
            t0 = time.perf_counter()
            try:
                status, payload = c.request("POST", path, bodies[path])
            except Exception as e:  # noqa: BLE001 - counted as an error
                status, payload = 0, str(e).encode()
            dt = time.perf_counter() - t0
            with lock:
                if status == 200:
                    lat[path].append(dt)
                else:
                    errors.append((path, status, payload[:200]))

    added = []

    def writer():
        c = Client(port)
        k = 0
        while time.time() < stop_at:
            name = "load-%d.md" % k
            status, payload = c.request("POST", "/v1/documents", {
                "name": name, "text": "# Load %d\n\n%s" % (k, " ".join(samples_text[:4]))})
            with lock:
                if status == 201:
                    added.append(name)
                else:
                    errors.append(("/v1/documents", status, payload[:200]))
            k += 1
            time.sleep(0.2)

    w = threading.Thread(target=writer)
    w.start()
    start = time.perf_counter()
    run_threads(connections, worker)
    elapsed = time.perf_counter() - start
    w.join()
    out = {"seconds": round(elapsed, 1), "connections": connections,
           "documents_added": len(added), "errors": len(errors),
           "error_samples": [str(e) for e in errors[:5]]}
    total = 0
    for path, values in lat.items():
        total += len(values)
        out[path] = {"requests": len(values), "rps": round(len(values) / elapsed, 1),
                     "p50_ms": round(1000 * percentile(values, 50), 1) if values else None,
                     "p99_ms": round(1000 * percentile(values, 99), 1) if values else None}
    out["total_rps"] = round(total / elapsed, 1)
    return out


def peak_rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        return None
    return None


def multipart(name, content):
    boundary = uuid.uuid4().hex
    body = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
            "Content-Type: text/plain\r\n\r\n" % (boundary, name)).encode() + content + \
        ("\r\n--%s--\r\n" % boundary).encode()
    return body, {"Content-Type": "multipart/form-data; boundary=" + boundary}


def kill_during_upload(binary, index, samples_text):
    port = free_port()
    # The retried upload may take longer than the default request timeout with a real model.
    proc = start_server(binary, index, port, ["--timeout-s", "300"])
    name = "big-upload.txt"
    paragraph = " ".join(samples_text)
    content = ("\n\n".join("Section %d. %s" % (i, paragraph) for i in range(400))).encode()
    body, headers = multipart(name, content)

    def upload():
        try:
            Client(port).request("POST", "/v1/documents", body, headers, timeout=120)
        except Exception:  # noqa: BLE001 - the server is killed under it
            pass

    t = threading.Thread(target=upload)
    t.start()
    time.sleep(0.4)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    t.join()
    result = {"upload_bytes": len(content)}

    port = free_port()
    # The retried upload may take longer than the default request timeout with a real model.
    proc = start_server(binary, index, port, ["--timeout-s", "300"])
    try:
        c = Client(port)
        status, payload = c.request("GET", "/v1/documents?limit=1000")
        docs = [d for d in json.loads(payload)["data"] if d["path"].endswith("/" + name)]
        result["after_kill"] = "absent" if not docs else "present (%d chunks)" % docs[0]["chunks"]
        state_ok = status == 200 and (not docs or docs[0]["chunks"] > 0)
        status, payload = c.request("POST", "/v1/documents", body, headers, timeout=330)
        result["retry_status"] = status
        status2, payload2 = c.request("GET", "/v1/documents?limit=1000")
        docs = [d for d in json.loads(payload2)["data"] if d["path"].endswith("/" + name)]
        complete = status == 201 and len(docs) == 1 and docs[0]["chunks"] > 0
        result["after_retry_chunks"] = docs[0]["chunks"] if docs else 0
        # A query still works on the index.
        qs, _ = c.request("POST", "/v1/query", {"query": "Section 3 reciprocal rank fusion"})
        result["query_after_restart"] = qs
        result["ok"] = bool(state_ok and complete and qs == 200)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    check = subprocess.run([binary, "--index", index, "stats", "--json"], capture_output=True,
                           text=True, timeout=60)
    result["stats_after"] = "ok" if check.returncode == 0 else check.stderr.strip()
    result["ok"] = result["ok"] and check.returncode == 0
    return result


def main():
    global EMBED_MODEL, RERANK_MODEL  # noqa: PLW0603 - read by start_server
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "sieve"))
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--short", action="store_true", help="a few seconds of each (CI)")
    ap.add_argument("--max-wait-ms", type=int, default=None,
                    help="the server's batch wait (default: the server's, 0 ms)")
    ap.add_argument("--embed-model", default=os.path.join(MODELS, "tiny-bge"),
                    help="embedding model folder (default: the tiny fixture)")
    ap.add_argument("--rerank-model", default=os.path.join(MODELS, "tiny-ms-marco"),
                    help="reranking model folder (default: the tiny fixture)")
    ap.add_argument("--batching-only", action="store_true",
                    help="only the batching gain (no mixed load, no kill test)")
    args = ap.parse_args()
    EMBED_MODEL, RERANK_MODEL = args.embed_model, args.rerank_model
    if args.short:
        args.duration = 4
    if not os.path.exists(args.binary):
        # scripts/test (run first in CI) builds it; alone, build just the binary.
        subprocess.run([os.path.join(ROOT, "scripts", "build"), "--target", "sieve"], check=True,
                       stdout=sys.stderr)
    work = tempfile.mkdtemp(prefix="sieve-load-")
    try:
        index = os.path.join(work, "idx")
        subprocess.run([args.binary, "--index", index, "ingest", os.path.join(ROOT, "samples"),
                        "--embed-model", args.embed_model],
                       check=True, capture_output=True, timeout=120)
        samples_text = []
        for name in sorted(os.listdir(os.path.join(ROOT, "samples"))):
            with open(os.path.join(ROOT, "samples", name), encoding="utf-8") as f:
                samples_text += [p.strip() for p in f.read().split("\n\n") if len(p.strip()) > 40]
        port = free_port()
        extra = [] if args.max_wait_ms is None else ["--max-wait-ms", str(args.max_wait_ms)]
        proc = start_server(args.binary, index, port, extra)
        summary = {"max_wait_ms": args.max_wait_ms if args.max_wait_ms is not None else 0}
        try:
            count = 96 if args.short else 512
            summary["batching"] = batching_gain(port, count, args.connections, proc.pid)
            summary["rerank_batching"] = batching_gain(port, count, args.connections, proc.pid,
                                                       "/v1/rerank", rerank_body,
                                                       "sieve_rerank_batch_pairs")
            if not args.batching_only:
                summary["mixed"] = mixed_load(port, args.duration, args.connections,
                                              samples_text)
            summary["peak_rss_mb"] = peak_rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        summary["sigterm_exit_code"] = proc.returncode
        if not args.batching_only:
            try:
                summary["kill_during_upload"] = kill_during_upload(args.binary, index,
                                                                   samples_text)
            except Exception as e:  # noqa: BLE001 - reported with the figures gathered so far
                summary["kill_during_upload"] = {"ok": False, "error": repr(e)}
        print(json.dumps(summary, indent=2))
        failed = (summary["batching"]["errors"] > 0 or summary["rerank_batching"]["errors"] > 0 or
                  summary["sigterm_exit_code"] != 0 or
                  (not args.batching_only and (summary["mixed"]["errors"] > 0 or
                                               not summary["kill_during_upload"]["ok"])))
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
