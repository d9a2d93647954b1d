// Set-up shared by bench/js/update.js and bench/js/bulk.js: the official Microsoft Graph
// JavaScript client (@microsoft/microsoft-graph-client) on the emulator's base URL, the
// session's path, the parsed body and a warm-up.
'use strict';
const graph = require('@microsoft/microsoft-graph-client');

// The SDK's AuthenticationHandler adds the token only to https Graph hosts; the
// emulator is plain http on loopback, so this handler stands in for it and the rest
// of the SDK's default chain (retry, redirect, telemetry, fetch) stays as shipped.
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

// -> { client, path, payload } after `warm` (default 50) warm-up updates of the session.
async function setup(base, token, crid, sid, body, warm = 50) {
  const client = graph.Client.initWithMiddleware({
    baseUrl: base.replace(/\/+$/, '') + '/',
    defaultVersion: 'v1.0',
    middleware: chain(token),
  });
  const path = `/communications/callRecords/${encodeURIComponent(crid)}/sessions/${encodeURIComponent(sid)}`;
  const payload = JSON.parse(body);
  for (let i = 0; i < warm; i++) await client.api(path).patch(payload);   // warm-up
  return { client, path, payload };
}

function run(main) {
  main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
}

module.exports = { setup, run };
