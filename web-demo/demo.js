// The novitai web demo: the core's engine compiled to wasm, driven three ways.
//
// 1. In-page simulator: `SimulatedNovita` (the engine against the core's
//    simulated Novita API, in virtual time). A steady workload is submitted,
//    virtual time is advanced in 100 ms slices, and every engine decision is
//    counted into one-second buckets that the charts draw. The knobs rewrite
//    the simulator's fault plan with `setFaults`.
// 2. Webhooks: `signWebhook` / `verifyWebhook` (Standard Webhooks), with
//    tampered bodies and timestamps.
// 3. Real network: `NovitaClient` over `fetch` against the simulator server
//    (`sim_serve_for_web_demo`) on 127.0.0.1.
//
// `window.__novitaiDemo` exposes the state for the browser test.

import init, {
  NovitaClient,
  SimulatedNovita,
  signWebhook,
  verifyWebhook,
} from './pkg/novitai_wasm.js';
import { breakerChart, lineChart } from './charts.js';

const $ = (id) => document.getElementById(id);

// The engine's configuration in the demo: small numbers so that every
// machine shows its hand within seconds.
const ENGINE_OPTIONS = {
  maxInFlight: 8,
  rateLimitMaxRequests: 10,
  rateLimitWindowMs: 1000,
  circuitBreakerFailureThreshold: 5,
  circuitBreakerOpenMs: 10000,
  circuitBreakerSuccessThreshold: 2,
  maxRetryAttempts: 3,
  retryBaseDelayMs: 500,
  retryMaxDelayMs: 5000,
  requestTimeoutMs: 10000,
  queueCapacity: 200,
  cacheEnabled: false,
};
const CALLS = ['clusters', 'products', 'listInstances'];
const SLICE_MS = 100; // virtual time advanced per step
const TICK_MS = 50; // real time between steps of the animation
const WINDOW_SECS = 120; // seconds of virtual time on the charts
const LEVEL = { closed: 0, 'half-open': 1, open: 2, 'forced-open': 2, disabled: 0 };

const demo = {
  ready: false,
  error: null,
  sim: null,
  paused: false,
  knobs: { rps: 8, error: 0.02, latencyMs: 300, rate429: 0, speed: 10 },
  outage: null, // { startMs, lengthMs }
  burst429UntilMs: 0,
  plan: '',
  planError: null,
  carry: 0,
  callIndex: 0,
  breaker: 'closed',
  breakerLog: [], // { atMs, state }
  buckets: [], // { t, ok, failed, admissions, waits, r429, retries, inFlight, queued, breaker, outage }
  totals: null,
  log: [],
  webhook: { headers: null, body: null, results: [] },
  net: { running: false, done: false, ok: 0, failed: 0, errors: [], breaker: null, wallMs: 0 },
};
window.__novitaiDemo = demo;

function freshTotals() {
  return {
    submitted: 0, ok: 0, failed: 0, attempts: 0, retries: 0, waits: 0, r429: 0, opens: 0,
    inFlight: 0, queued: 0,
  };
}

// ---- the in-page simulator ----------------------------------------------

function nowMs() {
  return demo.sim ? demo.sim.nowMs : 0;
}

function inOutage(atMs) {
  const o = demo.outage;
  return o !== null && atMs >= o.startMs && atMs < o.startMs + o.lengthMs;
}

/** The largest 429 rate the simulator accepts next to the 5xx rate (the
 * fault probabilities must add up to at most 1; 5xx come in bursts of 1–4). */
function max429(error) {
  const mean = 2.5;
  const burstStart = error / (mean - error * (mean - 1));
  return Math.max(0, Math.floor((0.99 - burstStart) * 100) / 100);
}

function faultPlan() {
  const k = demo.knobs;
  const r429 = nowMs() < demo.burst429UntilMs ? 0.9 : k.rate429;
  const parts = [
    `5xx=${k.error}`,
    `429=${Math.min(r429, max429(k.error))}`,
    `latency=${Math.round(k.latencyMs / 5)}ms..${k.latencyMs}ms`,
  ];
  if (demo.outage) parts.push(`outage=${demo.outage.startMs}ms+${demo.outage.lengthMs}ms`);
  return parts.join(',');
}

function applyPlan() {
  const plan = faultPlan();
  if (plan === demo.plan) return;
  try {
    demo.sim.setFaults(plan);
    demo.plan = plan;
    demo.planError = null;
  } catch (e) {
    demo.planError = `${e.code}: ${e.message}`;
  }
}

function bucketAt(atMs) {
  const t = Math.floor(atMs / 1000);
  const bs = demo.buckets;
  while (!bs.length || bs[bs.length - 1].t < t) {
    const nt = bs.length ? bs[bs.length - 1].t + 1 : 0;
    bs.push({
      t: nt, ok: 0, failed: 0, admissions: 0, waits: 0, r429: 0, retries: 0,
      inFlight: 0, queued: 0, breaker: LEVEL[demo.breaker] ?? 0, outage: inOutage(nt * 1000),
    });
  }
  if (bs.length > 4 * WINDOW_SECS) bs.splice(0, bs.length - 2 * WINDOW_SECS);
  // Events arrive in time order, so t is the last bucket or one just before.
  for (let i = bs.length - 1; i >= 0; i--) if (bs[i].t === t) return bs[i];
  return bs[bs.length - 1];
}

function record(e) {
  const b = bucketAt(e.atMs);
  const T = demo.totals;
  switch (e.kind) {
    case 'sent':
      if (e.status === 429) { b.r429++; T.r429++; }
      break;
    case 'attempt_started':
      b.admissions++; T.attempts++;
      break;
    case 'rate_limited':
      b.waits++; T.waits++;
      break;
    case 'retry_scheduled':
      b.retries++; T.retries++;
      break;
    case 'completed':
      if (e.ok) { b.ok++; T.ok++; } else { b.failed++; T.failed++; }
      break;
    case 'breaker':
      demo.breaker = e.state;
      demo.breakerLog.push({ atMs: e.atMs, state: e.state });
      if (e.state === 'open') T.opens++;
      b.breaker = Math.max(b.breaker, LEVEL[e.state] ?? 0);
      break;
    default:
      break;
  }
  if (e.kind !== 'sent') {
    demo.log.push(`${(e.atMs / 1000).toFixed(1).padStart(7)}s  ${e.line}`);
    if (demo.log.length > 200) demo.log.splice(0, 100);
  }
}

function step(sliceMs) {
  applyPlan();
  // The workload comes in waves (0.4x to 1.6x the average over 20 s), so the
  // rate limiter (10 per second) has peaks to smooth.
  const wave = 1 + 0.6 * Math.sin((2 * Math.PI * nowMs()) / 20000);
  demo.carry += (demo.knobs.rps * wave * sliceMs) / 1000;
  while (demo.carry >= 1) {
    demo.carry -= 1;
    const call = CALLS[demo.callIndex++ % CALLS.length];
    demo.totals.submitted++;
    try {
      demo.sim.submit(call, undefined);
    } catch (e) {
      demo.totals.failed++;
      bucketAt(nowMs()).failed++;
    }
  }
  for (const e of demo.sim.runFor(sliceMs)) record(e);
  const st = demo.sim.status();
  const b = bucketAt(Math.max(0, nowMs() - 1));
  b.inFlight = Math.max(b.inFlight, st.inFlight);
  b.queued = Math.max(b.queued, st.queued);
  demo.totals.inFlight = st.inFlight;
  demo.totals.queued = st.queued;
  if (st.breaker !== demo.breaker) {
    demo.breaker = st.breaker;
  }
}

function tick() {
  if (!demo.sim || demo.paused) return;
  let budget = demo.knobs.speed * TICK_MS;
  while (budget > 0) {
    const slice = Math.min(SLICE_MS, budget);
    step(slice);
    budget -= slice;
  }
  render();
}

function startSim() {
  if (demo.sim) demo.sim.free();
  demo.sim = new SimulatedNovita({ ...ENGINE_OPTIONS, seed: 7, faults: 'none' });
  demo.plan = '';
  demo.outage = null;
  demo.burst429UntilMs = 0;
  demo.carry = 0;
  demo.callIndex = 0;
  demo.breaker = 'closed';
  demo.breakerLog = [];
  demo.buckets = [];
  demo.totals = freshTotals();
  demo.log = [];
  applyPlan();
}

function render() {
  const T = demo.totals;
  const now = nowMs();
  const state = $('breaker-state');
  state.textContent = demo.breaker;
  state.className = `state ${demo.breaker}`;
  const down = inOutage(now);
  const api = $('api-state');
  api.textContent = down ? 'outage' : 'up';
  api.className = `state ${down ? 'down' : 'closed'}`;
  $('c-time').textContent = `${(now / 1000).toFixed(1)} s`;
  $('c-submitted').textContent = T.submitted;
  $('c-ok').textContent = T.ok;
  $('c-failed').textContent = T.failed;
  $('c-attempts').textContent = T.attempts;
  $('c-retries').textContent = T.retries;
  $('c-waits').textContent = T.waits;
  $('c-429').textContent = T.r429;
  $('c-opens').textContent = T.opens;
  $('c-flight').textContent = `${T.inFlight} / ${T.queued}`;
  $('fault-plan').textContent = demo.planError
    ? `fault plan refused: ${demo.planError}`
    : `fault plan: ${demo.plan}`;
  $('start-outage').disabled = down;
  breakerChart($('chart-breaker'), demo.buckets, WINDOW_SECS);
  lineChart($('chart-outcomes'), demo.buckets, [
    { key: 'ok', color: '#2e9d4a' },
    { key: 'failed', color: '#d43c3c' },
  ], WINDOW_SECS);
  lineChart($('chart-limiter'), demo.buckets, [
    { key: 'admissions', color: '#2f6fd6' },
    { key: 'waits', color: '#e08a1e' },
    { key: 'r429', color: '#8a4fd1' },
  ], WINDOW_SECS);
  lineChart($('chart-retries'), demo.buckets, [
    { key: 'retries', color: '#e08a1e' },
    { key: 'inFlight', color: '#888888' },
    { key: 'queued', color: '#17a2b8' },
  ], WINDOW_SECS);
  $('event-log').textContent = demo.log.slice(-40).reverse().join('\n');
}

/** Starts an outage of `secs` seconds of virtual time, now. */
demo.startOutage = (secs) => {
  const s = Number(secs);
  if (!(s > 0)) return;
  demo.outage = { startMs: nowMs(), lengthMs: Math.round(s * 1000) };
  applyPlan();
  render();
};
/** Sets knobs by name (`rps`, `error`, `latencyMs`, `rate429`, `speed`) and
 * moves the sliders to match. */
demo.setKnobs = (k) => {
  Object.assign(demo.knobs, k);
  syncKnobInputs();
  applyPlan();
};

function wireKnobs() {
  const knob = (id, key, out, fmt) => {
    const el = $(id);
    el.addEventListener('input', () => {
      demo.knobs[key] = Number(el.value);
      $(out).textContent = fmt(demo.knobs[key]);
      if (demo.sim) applyPlan();
    });
  };
  knob('knob-rps', 'rps', 'rps-out', (v) => `${v}`);
  knob('knob-error', 'error', 'err-out', (v) => `${Math.round(v * 100)}%`);
  knob('knob-latency', 'latencyMs', 'lat-out', (v) => `${v} ms`);
  knob('knob-429', 'rate429', 'r429-out', (v) => `${Math.round(v * 100)}%`);
  knob('knob-speed', 'speed', 'speed-out', (v) => `${v}×`);
  $('start-outage').addEventListener('click', () => demo.startOutage($('outage-secs').value));
  $('burst-429').addEventListener('click', () => {
    demo.burst429UntilMs = nowMs() + 10000;
    applyPlan();
  });
  $('pause').addEventListener('click', () => {
    demo.paused = !demo.paused;
    $('pause').textContent = demo.paused ? 'Resume' : 'Pause';
  });
  $('restart').addEventListener('click', () => {
    startSim();
    render();
  });
}

function syncKnobInputs() {
  const k = demo.knobs;
  const set = (id, v) => {
    $(id).value = v;
    $(id).dispatchEvent(new Event('input'));
  };
  set('knob-rps', k.rps);
  set('knob-error', k.error);
  set('knob-latency', k.latencyMs);
  set('knob-429', k.rate429);
  set('knob-speed', k.speed);
}

// ---- webhooks ---------------------------------------------------------------

function showVerification(label, headers, body) {
  const secret = $('wh-secret').value;
  const out = $('wh-result');
  let result;
  try {
    const v = verifyWebhook(secret, headers, body, Math.floor(Date.now() / 1000));
    result = { label, ok: true, id: v.id, timestamp: v.timestamp };
    out.textContent = `${label}: verified ✓\nid ${v.id}, timestamp ${v.timestamp}`;
    out.className = 'result ok';
  } catch (e) {
    result = { label, ok: false, code: e.code, message: e.message };
    out.textContent = `${label}: rejected ✗\n${e.code}: ${e.message}`;
    out.className = 'result rejected';
  }
  demo.webhook.results.push(result);
  return result;
}

function wireWebhooks() {
  const sign = () => {
    const ts = Math.floor(Date.now() / 1000);
    const body = $('wh-body').value;
    try {
      const headers = signWebhook($('wh-secret').value, $('wh-id').value, ts, body);
      demo.webhook.headers = headers;
      demo.webhook.body = body;
      $('wh-headers').textContent = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}`)
        .join('\n');
    } catch (e) {
      demo.webhook.headers = null;
      $('wh-headers').textContent = `could not sign: ${e.code}: ${e.message}`;
    }
    return demo.webhook.headers;
  };
  const signed = () => demo.webhook.headers || sign();
  $('wh-sign').addEventListener('click', sign);
  $('wh-verify').addEventListener('click', () => {
    const h = signed();
    if (h) showVerification('as signed', h, demo.webhook.body);
  });
  $('wh-tamper-body').addEventListener('click', () => {
    const h = signed();
    if (!h) return;
    const tampered = demo.webhook.body.replace(/running/g, 'stopped') + (
      demo.webhook.body.includes('running') ? '' : ' ');
    showVerification('body tampered with', h, tampered);
  });
  $('wh-tamper-time').addEventListener('click', () => {
    const h = signed();
    if (!h) return;
    const old = Number(h['webhook-timestamp']) - 3600;
    showVerification('timestamp moved back an hour', { ...h, 'webhook-timestamp': String(old) },
      demo.webhook.body);
  });
}

// ---- real network -------------------------------------------------------------

function wireNetwork() {
  const param = new URLSearchParams(location.search).get('sim');
  if (param) $('net-url').value = param;
  $('net-run').addEventListener('click', runNetwork);
}

async function runNetwork() {
  const n = demo.net;
  if (n.running) return;
  Object.assign(n, { running: true, done: false, ok: 0, failed: 0, errors: [], breaker: null });
  const log = [];
  const show = () => {
    $('net-ok').textContent = n.ok;
    $('net-failed').textContent = n.failed;
    $('net-log').textContent = log.slice(-30).reverse().join('\n');
  };
  $('net-state').textContent = 'running';
  const started = performance.now();
  let client;
  try {
    client = new NovitaClient({
      ...ENGINE_OPTIONS,
      rateLimitMaxRequests: 20,
      apiKey: $('net-key').value,
      baseUrl: $('net-url').value.trim(),
      onEvent: (e) => log.push(`${(e.atMs / 1000).toFixed(2).padStart(7)}s  ${e.line}`),
    });
  } catch (e) {
    n.errors.push(`${e.code}: ${e.message}`);
    $('net-state').textContent = `bad options: ${e.message}`;
    n.running = false;
    n.done = true;
    return;
  }
  const count = Math.max(1, Math.min(200, Number($('net-count').value) || 1));
  // Three lanes, one endpoint each, each call after the previous one: no two
  // identical GETs are in flight at once, so none coalesce and every call is
  // its own request on the wire.
  const lanes = [() => client.clusters(), () => client.products(), () => client.listInstances()];
  let next = 0;
  const lane = async (call) => {
    while (next < count) {
      next++;
      try {
        await call();
        n.ok++;
      } catch (e) {
        n.failed++;
        n.errors.push(`${e.code}: ${e.message}`);
      }
      show();
    }
  };
  await Promise.all(lanes.map(lane));
  n.wallMs = Math.round(performance.now() - started);
  n.breaker = client.status().breaker;
  client.free();
  $('net-breaker').textContent = n.breaker;
  $('net-time').textContent = `${n.wallMs} ms`;
  $('net-state').textContent = n.failed ? `done (${n.errors[0]})` : 'done';
  show();
  n.running = false;
  n.done = true;
}

// ---- start ----------------------------------------------------------------------

async function main() {
  try {
    await init();
  } catch (e) {
    demo.error = String(e);
    $('load-status').textContent = `The wasm package did not load: ${e}. Build it with bash scripts/web-demo.sh.`;
    return;
  }
  $('load-status').textContent =
    'Loaded. Virtual time runs at the speed knob; the charts show the last 120 virtual seconds.';
  wireKnobs();
  wireWebhooks();
  wireNetwork();
  startSim();
  render();
  setInterval(tick, TICK_MS);
  demo.ready = true;
}

main();
