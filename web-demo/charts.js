// Hand-drawn <canvas> charts for the demo: no dependencies.
//
// Every chart takes the list of one-second buckets the demo keeps (see
// demo.js) and draws the last `windowSecs` of them, with outage seconds
// shaded in the background.

const PAD = { left: 34, right: 22, top: 8, bottom: 18 };
const OUTAGE_FILL = '#f6d2d2';
const GRID = '#e6e9ee';
const TEXT = '#6b7380';

function frame(canvas, buckets, windowSecs) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width;
  const h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const last = buckets.length ? buckets[buckets.length - 1].t : 0;
  const from = Math.max(0, last - windowSecs + 1);
  const shown = buckets.filter((b) => b.t >= from);
  const plotW = w - PAD.left - PAD.right;
  const plotH = h - PAD.top - PAD.bottom;
  const dx = plotW / windowSecs;
  const x = (t) => PAD.left + (t - from) * dx;
  // Outage shading.
  ctx.fillStyle = OUTAGE_FILL;
  for (const b of shown) {
    if (b.outage) ctx.fillRect(x(b.t), PAD.top, Math.ceil(dx), plotH);
  }
  // Time axis: a tick every 10 s of virtual time.
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = TEXT;
  ctx.strokeStyle = GRID;
  ctx.lineWidth = 1;
  for (let t = Math.ceil(from / 10) * 10; t <= from + windowSecs; t += 10) {
    const xx = Math.round(x(t)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(xx, PAD.top);
    ctx.lineTo(xx, PAD.top + plotH);
    ctx.stroke();
    if (t % 30 === 0) ctx.fillText(`${t}s`, xx - 8, h - 5);
  }
  ctx.strokeStyle = '#b8c0cc';
  ctx.strokeRect(PAD.left + 0.5, PAD.top + 0.5, plotW, plotH);
  return { ctx, shown, x, dx, plotH, plotW, w, h };
}

/** Lines of per-second values: `series` is `[{ key, color }]`. */
export function lineChart(canvas, buckets, series, windowSecs = 120) {
  const { ctx, shown, x, dx, plotH } = frame(canvas, buckets, windowSecs);
  let max = 1;
  for (const b of shown) for (const s of series) max = Math.max(max, b[s.key] || 0);
  const nice = niceCeil(max);
  const y = (v) => PAD.top + plotH - (v / nice) * plotH;
  ctx.fillStyle = TEXT;
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillText(String(nice), 4, PAD.top + 9);
  ctx.fillText('0', 4, PAD.top + plotH);
  ctx.strokeStyle = GRID;
  ctx.beginPath();
  ctx.moveTo(PAD.left, Math.round(y(nice / 2)) + 0.5);
  ctx.lineTo(PAD.left + (canvas.width - PAD.left - PAD.right), Math.round(y(nice / 2)) + 0.5);
  ctx.stroke();
  ctx.lineWidth = 1.6;
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.beginPath();
    shown.forEach((b, i) => {
      const xx = x(b.t) + dx / 2;
      const yy = y(b[s.key] || 0);
      if (i === 0) ctx.moveTo(xx, yy);
      else ctx.lineTo(xx, yy);
    });
    ctx.stroke();
  }
}

const LEVEL_COLOR = ['#2e9d4a', '#e0a21e', '#d43c3c'];
const LEVEL_NAME = ['closed', 'half', 'open'];

/** The breaker's worst state in each second, as a coloured step band. */
export function breakerChart(canvas, buckets, windowSecs = 120) {
  const { ctx, shown, x, dx, plotH } = frame(canvas, buckets, windowSecs);
  const levelH = plotH / 3;
  ctx.fillStyle = TEXT;
  ctx.font = '10px system-ui, sans-serif';
  LEVEL_NAME.forEach((name, i) => {
    ctx.fillText(name, 2, PAD.top + plotH - i * levelH - levelH / 2 + 3);
  });
  for (const b of shown) {
    const level = b.breaker || 0;
    const hh = (level + 1) * levelH;
    ctx.fillStyle = LEVEL_COLOR[level];
    ctx.fillRect(x(b.t), PAD.top + plotH - hh, Math.ceil(dx), hh);
  }
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
