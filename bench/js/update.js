// The peer of bench/update.lua: sequential session updates through the official
// Microsoft Graph JavaScript client (@microsoft/microsoft-graph-client), over one
// keep-alive connection (Node's fetch), against the same emulator URL and body.
// Usage: node bench/js/update.js BASE_URL TOKEN CALL_RECORD_ID SESSION_ID BODY_JSON SECONDS
// Set-up shared with bulk.js: bench/js/common.js.
// Prints one JSON line: {"requests": n, "seconds": s, "rps": r}.
'use strict';
const { setup, run } = require('./common');

async function main() {
  const [base, token, crid, sid, body, seconds] = process.argv.slice(2);
  const { client, path, payload } = await setup(base, token, crid, sid, body);
  const limit = Number(seconds) * 1000;
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < limit) {
    await client.api(path).patch(payload);
    n++;
  }
  const secs = (performance.now() - start) / 1000;
  console.log(JSON.stringify({ requests: n, seconds: secs, rps: n / secs }));
}

run(main);
