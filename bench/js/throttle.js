// The JavaScript peer of bench/throttle.lua: one update per session through the official
// Microsoft Graph JavaScript client (@microsoft/microsoft-graph-client) with 16 concurrent
// promises (each takes the next update when its last one is done) and the SDK's
// RetryHandler as shipped (it honours Retry-After on 429, up to its default 3 retries),
// against the emulator's throttling. No warm-up: it would spend the window.
// Usage: node bench/js/throttle.js BASE_URL TOKEN CALL_RECORD_ID SESSION_IDS.json N CONCURRENCY
// Prints one JSON line: {"ok": n, "failed": f, "seconds": s}.
'use strict';
const fs = require('fs');
const { setup, run } = require('./common');

async function main() {
  const [base, token, crid, sidsFile, count, conc] = process.argv.slice(2);
  const sids = JSON.parse(fs.readFileSync(sidsFile, 'utf8'));
  const { client } = await setup(base, token, crid, sids[0], '{"isTest":true}', 0);
  const n = Number(count);
  let next = 0;
  let ok = 0;
  let failed = 0;
  async function worker() {
    while (next < n) {
      const sid = sids[next++];
      const path = `/communications/callRecords/${encodeURIComponent(crid)}/sessions/${encodeURIComponent(sid)}`;
      try { await client.api(path).patch({ isTest: true }); ok++; } catch (e) { failed++; }
    }
  }
  const start = performance.now();
  const workers = [];
  for (let w = 0; w < Number(conc); w++) workers.push(worker());
  await Promise.all(workers);
  console.log(JSON.stringify({ ok, failed, seconds: (performance.now() - start) / 1000 }));
}

run(main);
