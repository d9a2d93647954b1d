// The peer of bench/bulk.lua: N session updates through the official Microsoft Graph
// JavaScript client (@microsoft/microsoft-graph-client), 16 concurrent promises (each
// takes the next update when its last one is done), against the same emulator URL and
// body. Node's fetch keeps connections alive. The set-up (a bearer handler in front of
// the SDK's default chain, warm-up) is bench/js/common.js, shared with update.js.
// Usage: node bench/js/bulk.js BASE_URL TOKEN CALL_RECORD_ID SESSION_ID BODY_JSON N CONCURRENCY
// Prints one JSON line: {"requests": n, "seconds": s, "rps": r, "failed": f}.
'use strict';
const { setup, run } = require('./common');

async function main() {
  const [base, token, crid, sid, body, count, conc] = process.argv.slice(2);
  const { client, path, payload } = await setup(base, token, crid, sid, body);
  const n = Number(count);
  let next = 0;
  let failed = 0;
  async function worker() {
    while (next < n) {
      next++;
      try { await client.api(path).patch(payload); } catch (e) { failed++; }
    }
  }
  const start = performance.now();
  const workers = [];
  for (let w = 0; w < Number(conc); w++) workers.push(worker());
  await Promise.all(workers);
  const secs = (performance.now() - start) / 1000;
  console.log(JSON.stringify({ requests: n, seconds: secs, rps: n / secs, failed }));
}

run(main);
