// End-to-end test of the web demo in headless Chromium (Debian's, driven by
// playwright-core; no test runner). Run by scripts/web-demo-test.sh:
//
//   DEMO_URL=http://127.0.0.1:PORT/ SIM_URL=http://127.0.0.1:PORT2/gpu-instance/openapi \
//     node web-demo/tests/demo.spec.mjs
//
// It turns the knobs (an outage), checks that the breaker opens during the
// outage and closes after it, that the webhook panel verifies a signed
// message and rejects a tampered body and a tampered timestamp, and that the
// real-network mode completes requests against the simulator server. It saves
// web-demo/tests/screenshot.png.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const DEMO_URL = process.env.DEMO_URL;
const SIM_URL = process.env.SIM_URL;
assert.ok(DEMO_URL && SIM_URL, 'set DEMO_URL (the static server) and SIM_URL (the simulator API base URL)');
const SCREENSHOT = fileURLToPath(new URL('./screenshot.png', import.meta.url));

const t0 = Date.now();
const secs = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const pass = (what) => console.log(`  ok  [${secs()}] ${what}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const pageErrors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
  });

  await page.goto(`${DEMO_URL}?sim=${encodeURIComponent(SIM_URL)}`);
  await page.waitForFunction(() => window.__novitaiDemo?.ready === true || window.__novitaiDemo?.error,
    null, { timeout: 30_000 });
  assert.equal(await page.evaluate(() => window.__novitaiDemo.error), null, 'the wasm package loads');
  pass('the page loads the wasm package and starts the in-page simulator');

  // ---- knobs: no random 5xx (so the breaker's closing is certain), fast
  // virtual time, then a 30 s outage.
  const slide = (id, value) => page.locator(id).evaluate((el, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event('input'));
  }, value);
  await slide('#knob-error', 0);
  await slide('#knob-speed', 40);
  await page.waitForFunction(() => window.__novitaiDemo.totals.ok >= 20, null, { timeout: 20_000 });
  await page.locator('#breaker-state', { hasText: /^closed$/ }).waitFor({ timeout: 20_000 });
  pass('requests succeed and the breaker is closed before the outage');

  await page.fill('#outage-secs', '30');
  await page.click('#start-outage');
  const outage = await page.evaluate(() => window.__novitaiDemo.outage);
  assert.ok(outage && outage.lengthMs === 30_000, 'the outage knob sets a 30 s window');
  assert.match(await page.locator('#fault-plan').textContent(), /outage=\d+ms\+30000ms/);
  pass(`an outage from ${outage.startMs} ms to ${outage.startMs + outage.lengthMs} ms of virtual time is in the fault plan`);

  await page.locator('#breaker-state', { hasText: /^open$/ }).waitFor({ timeout: 20_000 });
  const opened = await page.evaluate(() => window.__novitaiDemo.breakerLog.find((e) => e.state === 'open'));
  assert.ok(opened, 'a transition to open is logged');
  assert.ok(opened.atMs >= outage.startMs && opened.atMs < outage.startMs + outage.lengthMs,
    `the breaker opened during the outage (at ${opened.atMs} ms)`);
  pass(`the breaker opens during the outage (at ${opened.atMs} ms, DOM shows "open")`);

  const end = outage.startMs + outage.lengthMs;
  await page.waitForFunction((end) => {
    const d = window.__novitaiDemo;
    return d.sim.nowMs > end && d.breaker === 'closed'
      && d.breakerLog.some((e) => e.state === 'closed' && e.atMs >= end);
  }, end, { timeout: 30_000 });
  const log = await page.evaluate(() => window.__novitaiDemo.breakerLog);
  const closed = log.find((e) => e.state === 'closed' && e.atMs >= end);
  assert.ok(log.some((e) => e.state === 'half-open' && e.atMs < closed.atMs),
    'the breaker went through half-open before closing');
  assert.equal(await page.locator('#breaker-state').textContent(), 'closed');
  const buckets = await page.evaluate(() => window.__novitaiDemo.buckets);
  const during = buckets.filter((b) => b.outage);
  // (Answers already on their way when it began may still arrive in its first second.)
  assert.ok(during.length >= 29 && during.slice(1).every((b) => b.ok === 0),
    'nothing succeeds during the outage');
  assert.ok(during.some((b) => b.failed > 0), 'requests fail during the outage');
  assert.ok(during.some((b) => b.breaker === 2), 'the breaker chart shows open during the outage');
  pass(`the breaker closes after the outage (at ${closed.atMs} ms, via half-open); transitions: ${log.map((e) => `${e.state}@${e.atMs}`).join(' ')}`);

  // Let successes after the outage show on the chart, then pause.
  await page.waitForFunction((end) => window.__novitaiDemo.buckets.some((b) => b.t * 1000 > end && b.ok > 0),
    end, { timeout: 10_000 });
  pass('requests succeed again after the outage');

  const m = await page.evaluate(() => {
    const d = window.__novitaiDemo;
    return {
      totals: d.totals,
      maxAdmissions: Math.max(...d.buckets.map((b) => b.admissions)),
      limiterWaitBuckets: d.buckets.filter((b) => b.waits > 0).length,
      retriesInOutage: d.buckets.filter((b) => b.outage).reduce((a, b) => a + b.retries, 0),
    };
  });
  assert.ok(m.totals.waits > 0 && m.limiterWaitBuckets > 0, 'the rate limiter made requests wait at the peaks');
  assert.ok(m.maxAdmissions <= 10, `the limiter admits at most 10 a second (max ${m.maxAdmissions})`);
  assert.ok(m.retriesInOutage > 0, 'failed attempts were retried during the outage');
  for (const id of ['#c-waits', '#c-retries', '#c-opens']) {
    assert.notEqual(await page.locator(id).textContent(), '0', `${id} counter is shown`);
  }
  pass(`limiter and retries: ${m.totals.waits} limiter waits, at most ${m.maxAdmissions} admissions a second, ${m.retriesInOutage} retries during the outage, ${m.totals.opens} breaker openings`);

  // ---- webhooks
  await page.click('#wh-sign');
  const headers = await page.locator('#wh-headers').textContent();
  assert.match(headers, /webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek/);
  assert.match(headers, /webhook-timestamp: \d{10}/);
  assert.match(headers, /webhook-signature: v1,[A-Za-z0-9+/]{43}=/);
  pass('signing shows the webhook-id, webhook-timestamp and webhook-signature headers');

  await page.click('#wh-verify');
  assert.match(await page.locator('#wh-result').getAttribute('class'), /\bok\b/);
  assert.match(await page.locator('#wh-result').textContent(), /verified/);
  await page.click('#wh-tamper-body');
  assert.match(await page.locator('#wh-result').getAttribute('class'), /\brejected\b/);
  assert.match(await page.locator('#wh-result').textContent(), /webhook_no_matching_signature/);
  await page.click('#wh-tamper-time');
  assert.match(await page.locator('#wh-result').getAttribute('class'), /\brejected\b/);
  assert.match(await page.locator('#wh-result').textContent(), /webhook_stale/);
  const results = await page.evaluate(() => window.__novitaiDemo.webhook.results);
  assert.deepEqual(results.map((r) => [r.ok, r.code ?? null]), [
    [true, null], [false, 'webhook_no_matching_signature'], [false, 'webhook_stale'],
  ]);
  pass('the webhook verifies as signed; a tampered body and a timestamp an hour old are rejected');

  // ---- real network against the simulator server
  await page.fill('#net-url', SIM_URL);
  await page.fill('#net-count', '20');
  await page.click('#net-run');
  await page.waitForFunction(() => window.__novitaiDemo.net.done, null, { timeout: 60_000 });
  const net = await page.evaluate(() => window.__novitaiDemo.net);
  assert.deepEqual(net.errors, [], 'no request failed');
  assert.equal(net.ok, 20, 'all 20 requests completed');
  assert.equal(net.breaker, 'closed');
  assert.equal(await page.locator('#net-ok').textContent(), '20');
  const root = new URL(SIM_URL).origin;
  const stats = await (await fetch(`${root}/_sim/stats`)).json();
  assert.ok(stats.requests >= 20 && stats.succeeded >= 20,
    `the server answered every request of the page (stats ${JSON.stringify(stats)})`);
  pass(`the real-network mode completes 20 requests over fetch in ${net.wallMs} ms (the server answered ${stats.succeeded} of ${stats.requests})`);

  await page.click('#pause');
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  pass(`screenshot saved to ${SCREENSHOT}`);

  assert.deepEqual(pageErrors, [], 'no errors in the page');
  pass('no page errors');
} finally {
  await browser.close();
}
console.log(`web demo test passed in ${secs()}`);
