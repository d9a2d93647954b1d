// The peer of bench/bulk.lua: N session updates through the official Microsoft Graph
// JavaScript client (@microsoft/microsoft-graph-client), 16 concurrent promises (each
// takes the next update when its last one is done), against the same emulator URL and
// body. Node's fetch keeps connections alive.
// Usage: node bench/js/bulk.js BASE_URL TOKEN CALL_RECORD_ID SESSION_ID BODY_JSON N CONCURRENCY
// Prints one JSON line: {"requests": n, "seconds": s, "rps": r, "failed": f}.
'use strict';
const graph = require('@microsoft/microsoft-graph-client');

// As in update.js: the SDK's AuthenticationHandler adds tokens only for https Graph
// hosts, so this handler stands in for it on the loopback emulator; the rest of the
// default chain (retry, redirect, telemetry, fetch) is the SDK's own.
class BearerHandler {
  constructor(token) { this.token = token; }
  async execute(context) {
    const options = context.options || (context.options = {});
    options.headers = options.headers || {};
    if (typeof Headers !== 'undefined' && options.headers instanceof Headers) {
      options.headers.set('Authorization', `Bearer ${this.token}`);
    } else {
      options.headers.Authorization = `Bearer ${this.token}`;
    }
    return this.nextMiddleware.execute(context);
  }
  setNext(next) { this.nextMiddleware = next; }
}

function chain(token) {
  const handlers = [
    new BearerHandler(token),
    new graph.RetryHandler(new graph.RetryHandlerOptions()),
    new graph.RedirectHandler(new graph.RedirectHandlerOptions()),
    new graph.TelemetryHandler(),
    new graph.HTTPMessageHandler(),
  ];
  for (let i = 0; i < handlers.length - 1; i++) handlers[i].setNext(handlers[i + 1]);
  return handlers[0];
}

async function main() {
  const [base, token, crid, sid, body, count, conc] = process.argv.slice(2);
  const client = graph.Client.initWithMiddleware({
    baseUrl: base.replace(/\/+$/, '') + '/',
    defaultVersion: 'v1.0',
    middleware: chain(token),
  });
  const payload = JSON.parse(body);
  const n = Number(count);
  const path = `/communications/callRecords/${encodeURIComponent(crid)}/sessions/${encodeURIComponent(sid)}`;
  for (let i = 0; i < 50; i++) await client.api(path).patch(payload);   // warm-up
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

main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
