// The reference peer: ONNX Runtime from npm (onnxruntime-node), same protocol as peer_py.py.
//
//   NODE_PATH=<node_modules> node peer_node.js ort-node|ort-node-int8 --workloads FILE [--threads 2]
//
// ort-node runs the exported model.onnx; ort-node-int8 runs model.fused.int8.onnx (made by the
// Python peer ort-int8 with onnxruntime's quantize_dynamic; the harness starts that one first).
// Default session options except intraOpNumThreads=threads, interOpNumThreads=1, sequential.
// Inputs: length-sorted batches padded to the longest (int64 ids, mask, token types).
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function reply(value) { process.stdout.write(JSON.stringify(value) + '\n'); }

function procStatusKb(field) {
  for (const line of fs.readFileSync('/proc/self/status', 'ascii').split('\n')) {
    if (line.startsWith(field + ':')) return parseInt(line.split(/\s+/)[1], 10);
  }
  return -1;
}

function paddedBatches(ort, w) {
  const ids = w.ids;
  const types = w.type_ids || ids.map((x) => x.map(() => 0));
  const order = ids.map((_, i) => i).sort((a, b) => ids[a].length - ids[b].length || a - b);
  const out = [];
  for (let start = 0; start < order.length; start += w.batch) {
    const idx = order.slice(start, start + w.batch);
    const width = Math.max(...idx.map((i) => ids[i].length));
    const n = idx.length * width;
    const bIds = new BigInt64Array(n), bMask = new BigInt64Array(n), bTypes = new BigInt64Array(n);
    idx.forEach((i, row) => {
      for (let t = 0; t < ids[i].length; ++t) {
        bIds[row * width + t] = BigInt(ids[i][t]);
        bMask[row * width + t] = 1n;
        bTypes[row * width + t] = BigInt(types[i][t]);
      }
    });
    const dims = [idx.length, width];
    out.push({idx, width, feeds: {
      input_ids: new ort.Tensor('int64', bIds, dims),
      attention_mask: new ort.Tensor('int64', bMask, dims),
      token_type_ids: new ort.Tensor('int64', bTypes, dims)}});
  }
  return out;
}

async function main() {
  const peer = process.argv[2];
  const threads = parseInt(arg('--threads', '2'), 10);
  const doc = JSON.parse(fs.readFileSync(arg('--workloads'), 'utf8'));
  let ort, sessions;
  try {
    ort = require('onnxruntime-node');
    const file = peer === 'ort-node-int8' ? 'model.fused.int8.onnx' : 'model.onnx';
    const options = {intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
                     executionProviders: ['cpu']};
    const started = process.hrtime.bigint();
    sessions = {
      embed: await ort.InferenceSession.create(path.join(doc.models.embedder, file), options),
      rerank: await ort.InferenceSession.create(path.join(doc.models.cross_encoder, file), options),
    };
    const loadSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    reply({ok: true, ready: true, load_seconds: loadSeconds,
           versions: {'onnxruntime-node': require('onnxruntime-node/package.json').version}});
  } catch (error) {
    reply({ok: false, error: String(error)});
    process.exit(2);
  }
  const batches = {};
  for (const [name, w] of Object.entries(doc.workloads)) batches[name] = paddedBatches(ort, w);

  const rl = readline.createInterface({input: process.stdin});
  for await (const line of rl) {
    try {
      const request = JSON.parse(line);
      if (request.op === 'quit') break;
      if (request.op === 'rss') {
        reply({ok: true, rss_kb: procStatusKb('VmRSS'), hwm_kb: procStatusKb('VmHWM')});
        continue;
      }
      const w = doc.workloads[request.w];
      const session = sessions[w.kind];
      const outputs = new Array(w.ids.length);
      const start = process.hrtime.bigint();
      for (const batch of batches[request.w]) {
        const result = await session.run(batch.feeds);
        const tensor = result[session.outputNames[0]];
        const data = tensor.data;
        batch.idx.forEach((i, row) => {
          if (w.kind === 'embed') {
            const hidden = tensor.dims[2];
            const base = row * batch.width * hidden;  // [CLS] of this row
            const v = Array.from(data.subarray(base, base + hidden));
            const norm = Math.max(Math.sqrt(v.reduce((s, x) => s + x * x, 0)), 1e-12);
            outputs[i] = v.map((x) => x / norm);
          } else {
            const labels = tensor.dims[1];
            outputs[i] = Array.from(data.subarray(row * labels, (row + 1) * labels));
          }
        });
      }
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const answer = {ok: true, seconds};
      if (request.op === 'check') answer.outputs = outputs;
      reply(answer);
    } catch (error) {
      reply({ok: false, error: String(error)});
    }
  }
}

main();
