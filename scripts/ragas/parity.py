"""Sieve's RAG metrics against the real Ragas, with one scripted judge (run by scripts/test-ragas).

A local OpenAI-protocol server on 127.0.0.1 answers every Ragas prompt with a verdict computed
from the prompt's input (so both clients get the same verdict for the same input) and
/v1/embeddings with fixed vectors (multiples of 1/8, exact in float32). The samples are scored by
ragas.evaluate and by `sieve eval --questions`; the script prints both and fails unless every
score agrees within 1e-6 (NaN in Ragas <-> no score in Sieve) and every prompt Sieve sent is one
Ragas sent too.
"""
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ragas.metrics._answer_correctness import CorrectnessClassifier
from ragas.metrics._answer_relevance import ResponseRelevancePrompt
from ragas.metrics._context_precision import ContextPrecisionPrompt
from ragas.metrics._context_recall import ContextRecallClassificationPrompt
from ragas.metrics._faithfulness import NLIStatementPrompt, StatementGeneratorPrompt

SIEVE = sys.argv[1]
TOLERANCE = 1e-6
PREFIXES = {
    "statements": StatementGeneratorPrompt().instruction,
    "nli": NLIStatementPrompt().instruction,
    "relevance": ResponseRelevancePrompt().instruction,
    "precision": ContextPrecisionPrompt().instruction,
    "recall": ContextRecallClassificationPrompt().instruction,
    "correctness": CorrectnessClassifier().instruction,
}


def words(text):
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def sentences(text):
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def overlap(a, b):
    wa = words(a)
    return len(wa & words(b)) / len(wa) if wa else 0.0


def verdict(kind, data):
    """The scripted judge: deterministic in the prompt's input."""
    if kind == "statements":
        return {"statements": sentences(data["answer"])}
    if kind == "nli":
        if "GARBAGE" in data["context"]:
            return "I cannot judge this."  # unparseable: Ragas NaN, Sieve counts it
        return {"statements": [{"statement": s, "reason": "overlap",
                                "verdict": int(overlap(s, data["context"]) >= 0.6)}
                               for s in data["statements"]]}
    if kind == "relevance":
        response = data["response"]
        first = sentences(response)[0] if sentences(response) else response
        return {"question": "What about " + " ".join(sorted(words(first))[:4]) + "?",
                "noncommittal": int("don't know" in response.lower())}
    if kind == "precision":
        return {"reason": "overlap", "verdict": int(overlap(data["answer"], data["context"]) >= 0.3)}
    if kind == "recall":
        return {"classifications": [{"statement": s, "reason": "overlap",
                                     "attributed": int(overlap(s, data["context"]) >= 0.5)}
                                    for s in sentences(data["answer"])]}
    if kind == "correctness":
        tp, fp, fn = [], [], []
        for s in data["answer"]:
            (tp if any(overlap(s, g) >= 0.5 for g in data["ground_truth"]) else fp).append(s)
        for g in data["ground_truth"]:
            if not any(overlap(g, s) >= 0.5 for s in data["answer"]):
                fn.append(g)
        item = lambda s: {"statement": s, "reason": "overlap"}  # noqa: E731
        return {"TP": [item(s) for s in tp], "FP": [item(s) for s in fp], "FN": [item(s) for s in fn]}
    return "?"


def embedding(text):
    digest = hashlib.sha256(text.encode()).digest()
    return [((b % 17) - 8) / 8 for b in digest[:16]]


PROMPTS = []
LOCK = threading.Lock()


class Judge(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.endswith("/embeddings"):
            inputs = request["input"] if isinstance(request["input"], list) else [request["input"]]
            return self.reply({"object": "list", "model": "fixed",
                               "data": [{"object": "embedding", "index": i, "embedding": embedding(t)}
                                        for i, t in enumerate(inputs)],
                               "usage": {"prompt_tokens": 1, "total_tokens": 1}})
        prompt = request["messages"][-1]["content"]
        with LOCK:
            PROMPTS.append(prompt)
        kind = next((k for k, p in PREFIXES.items() if prompt.startswith(p)), "other")
        content = "?"
        if kind != "other":
            data = json.loads(prompt[prompt.rindex("\ninput: ") + 8: prompt.rindex("\nOutput: ")])
            out = verdict(kind, data)
            content = out if isinstance(out, str) else json.dumps(out)
        n = request.get("n") or 1
        self.reply({"id": "x", "object": "chat.completion", "created": 0, "model": "judge",
                    "choices": [{"index": i, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}
                                for i in range(n)],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


SAMPLES = [
    {"user_input": "Where is the Eiffel Tower and what is it made of?",
     "response": "The Eiffel Tower is in Paris. It is made of wrought iron. It was finished in 1999.",
     "retrieved_contexts": ["Bananas are yellow fruit.",
                            "The Eiffel Tower is a wrought iron tower in Paris, France.",
                            "The tower was finished in 1889 for the World's Fair."],
     "retrieved_context_ids": ["d9", "d1", "d2"],
     "reference": "The Eiffel Tower is in Paris, France. It is made of wrought iron.",
     "reference_context_ids": ["d1", "d2", "d3"],
     "reference_contexts": ["The Eiffel Tower is a wrought iron lattice tower in Paris, France."]},
    {"user_input": "What is BM25?",
     "response": "BM25 is a ranking function. It scores documents by term frequency and inverse document frequency.",
     "retrieved_contexts": ["BM25 is a ranking function used by search engines.",
                            "It scores documents by term frequency, inverse document frequency and length.",
                            "Okapi was a retrieval system at City University London."],
     "retrieved_context_ids": ["b1", "b2", "b3", "b2"],
     "reference": "BM25 is a bag-of-words ranking function. It uses term frequency and inverse document frequency.",
     "reference_context_ids": ["b1", "b2"],
     "reference_contexts": ["BM25 is a ranking function used by search engines.",
                            "Something about Robertson and Sparck Jones in the 1970s."]},
    {"user_input": "Who wrote the report on slip flow?",
     "response": "I don't know who wrote it.",
     "retrieved_contexts": ["Heat transfer in slip flow was studied for rarefied gases."],
     "retrieved_context_ids": ["c7"],
     "reference": "The report was written by Schaaf. It studied heat transfer in slip flow.",
     "reference_context_ids": ["c8"],
     "reference_contexts": ["Schaaf wrote a report on heat transfer in slip flow."]},
    {"user_input": "What causes boundary layer transition?",
     "response": "Transition is caused by disturbances. Roughness and pressure gradients matter.",
     "retrieved_contexts": ["GARBAGE in, garbage out.", "Boundary layer transition is caused by disturbances growing."],
     "retrieved_context_ids": ["t1", "t2"],
     "reference": "Boundary layer transition is caused by growing disturbances.",
     "reference_context_ids": ["t2"],
     "reference_contexts": ["Boundary layer transition is caused by disturbances growing."]},
    {"user_input": "Qu'est-ce que l'écoulement supersonique ?",
     "response": "Un écoulement supersonique est plus rapide que le son. Il crée des ondes de choc.",
     "retrieved_contexts": ["L'écoulement supersonique est plus rapide que le son et crée des ondes de choc.",
                            "Les cônes sont étudiés en soufflerie."],
     "retrieved_context_ids": ["s1", "s2"],
     "reference": "Un écoulement plus rapide que le son, avec des ondes de choc.",
     "reference_context_ids": ["s1"],
     "reference_contexts": ["L'écoulement supersonique est plus rapide que le son."]},
]
METRIC_NAMES = ["faithfulness", "answer_relevancy", "context_precision", "context_recall",
                "answer_correctness", "id_based_context_precision", "id_based_context_recall",
                "non_llm_context_recall"]


def run_ragas(base):
    from langchain_openai import ChatOpenAI, OpenAIEmbeddings
    from ragas import EvaluationDataset, evaluate
    from ragas.embeddings import LangchainEmbeddingsWrapper
    from ragas.llms import LangchainLLMWrapper
    from ragas.metrics import (AnswerCorrectness, AnswerRelevancy, ContextPrecision, ContextRecall,
                               Faithfulness, IDBasedContextPrecision, IDBasedContextRecall,
                               NonLLMContextRecall)
    from ragas.run_config import RunConfig

    llm = LangchainLLMWrapper(ChatOpenAI(base_url=base, api_key="none", model="judge", max_retries=0))
    emb = LangchainEmbeddingsWrapper(OpenAIEmbeddings(base_url=base, api_key="none", model="embed",
                                                      check_embedding_ctx_length=False))
    metrics = [Faithfulness(), AnswerRelevancy(), ContextPrecision(), ContextRecall(),
               AnswerCorrectness(), IDBasedContextPrecision(), IDBasedContextRecall(),
               NonLLMContextRecall()]
    result = evaluate(EvaluationDataset.from_list(SAMPLES), metrics=metrics, llm=llm, embeddings=emb,
                      raise_exceptions=False, show_progress=False,
                      run_config=RunConfig(max_retries=1, max_workers=4))
    return [{k: float(v) for k, v in row.items() if k in METRIC_NAMES} for row in result.scores]


def run_sieve(base):
    with tempfile.TemporaryDirectory() as tmp:
        questions = os.path.join(tmp, "samples.jsonl")
        with open(questions, "w") as out:
            for i, s in enumerate(SAMPLES):
                out.write(json.dumps({"id": str(i), **s}, ensure_ascii=False) + "\n")
        env = dict(os.environ, SIEVE_INDEX=os.path.join(tmp, "idx"))
        proc = subprocess.run([SIEVE, "--json", "eval", "--questions", questions,
                               "--judge-url", base, "--judge-model", "judge",
                               "--judge-embed-url", base, "--judge-concurrency", "4"],
                              capture_output=True, text=True, env=env, timeout=300)
        if proc.returncode != 0:
            sys.exit("sieve eval failed:\n" + proc.stderr)
        out = json.loads(proc.stdout)["rag"][0]
        return out["samples"], out


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Judge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d/v1" % server.server_address[1]
    ragas_scores = run_ragas(base)
    ragas_prompts = set(PROMPTS)
    PROMPTS.clear()
    sieve_samples, sieve_summary = run_sieve(base)
    sieve_prompts = set(PROMPTS)
    server.shutdown()

    failures = 0
    compared = 0
    worst = 0.0
    print("%-28s %-7s %12s %12s" % ("metric", "sample", "ragas", "sieve"))
    for name in METRIC_NAMES:
        for i, (r, s) in enumerate(zip(ragas_scores, sieve_samples)):
            rv = r.get(name, math.nan)
            sv = s["scores"].get(name)
            ok = (math.isnan(rv) and sv is None) or (sv is not None and abs(rv - sv) <= TOLERANCE)
            compared += 1
            if sv is not None and not math.isnan(rv):
                worst = max(worst, abs(rv - sv))
            print("%-28s %-7s %12s %12s %s" % (name, i, "nan" if math.isnan(rv) else "%.9f" % rv,
                                               "-" if sv is None else "%.9f" % sv,
                                               "" if ok else "MISMATCH " + s["errors"].get(name, "")))
            failures += not ok
    foreign = sieve_prompts - ragas_prompts
    print("prompts: sieve sent %d distinct, ragas %d; sieve prompts ragas never sent: %d"
          % (len(sieve_prompts), len(ragas_prompts), len(foreign)))
    failures += len(foreign) > 0
    unparseable = sum(m["unparseable"] for m in sieve_summary["metrics"])
    print("sieve: %d judge calls, %d unparseable replies, unparseable verdicts per metric: %s"
          % (sieve_summary["judge_calls"], sieve_summary["unparseable_replies"],
             {m["name"]: m["unparseable"] for m in sieve_summary["metrics"] if m["unparseable"]}))
    if unparseable == 0:
        print("FAIL the scripted unparseable verdict was not counted")
        failures += 1
    print("max |ragas - sieve| = %.3g over %d scores" % (worst, compared))
    print("%d passed, %d failed" % (compared - failures, failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
