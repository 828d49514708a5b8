// Line charts drawn as SVG by hand: no library and nothing fetched from elsewhere. A chart is a
// function of its points, redrawn whole on every refresh (a few hundred points at most).

import { html, svg, nothing } from "./vendor/lit-html.js";

const WIDTH = 640;
const HEIGHT = 170;
const PAD = { left: 52, right: 10, top: 10, bottom: 24 };

/** The smallest of 1, 2, 5 × 10ⁿ at or above `v` (at least 1): the top of the y axis. */
function niceCeiling(v) {
  if (!(v > 1)) return 1;
  const power = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 5, 10]) {
    if (v <= step * power) return step * power;
  }
  return 10 * power;
}

/** An axis label: whole numbers plainly, thousands as `k`, millions as `M`. */
function short(v) {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** `HH:MM` in UTC of a time in milliseconds (with the date when the range spans days). */
function clock(ms, withDate) {
  const iso = new Date(ms).toISOString();
  return withDate ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
}

/**
 * A line chart of `series` — `[{label, values: [[timeMs, value], …]}]` — from `from` to `to`
 * (milliseconds; default: the points' own span). `unit` follows the legend's last values.
 * The figure carries `data-chart=<name>` and each line `data-points=<count>`.
 */
export function lineChart({ name, title, series, unit = "", from, to, format = short }) {
  const all = series.flatMap((s) => s.values);
  const times = all.map(([t]) => t);
  const x0 = from ?? Math.min(...times);
  const x1 = Math.max(to ?? Math.max(...times), x0 + 1);
  const top = niceCeiling(Math.max(0, ...all.map(([, v]) => v)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (t) => PAD.left + ((t - x0) / (x1 - x0)) * plotW;
  const y = (v) => PAD.top + plotH - (Math.max(0, v) / top) * plotH;
  const withDate = x1 - x0 > 20 * 3600 * 1000;
  const last = (s) => (s.values.length ? s.values[s.values.length - 1][1] : null);
  const summary = series.map((s) => `${s.label} ${last(s) === null ? "none" : format(last(s)) + unit}`).join(", ");
  return html`<figure class="chart" data-chart=${name}>
    <figcaption>${title}</figcaption>
    ${all.length === 0
      ? html`<p class="muted empty">No samples yet: the node takes one every few seconds.</p>`
      : html`<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${title}: ${summary}">
          ${[0, 0.5, 1].map(
            (f) => svg`<line class="grid" x1=${PAD.left} x2=${WIDTH - PAD.right} y1=${y(top * f)} y2=${y(top * f)}></line>
              <text class="axis" x=${PAD.left - 6} y=${y(top * f) + 4} text-anchor="end">${format(top * f)}</text>`,
          )}
          ${[0, 0.5, 1].map(
            (f) => svg`<text class="axis" x=${PAD.left + f * plotW} y=${HEIGHT - 6}
              text-anchor=${f === 0 ? "start" : f === 1 ? "end" : "middle"}>${clock(x0 + f * (x1 - x0), withDate)}${f === 1 ? " UTC" : ""}</text>`,
          )}
          ${series.map(
            (s, i) => svg`<polyline class="line series-${i}" data-series=${s.label} data-points=${s.values.length}
              points=${s.values.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ")}></polyline>`,
          )}
          ${series.filter((s) => s.values.length).map((s, i) => {
            // The latest value marked, so that a single sample shows too.
            const [t, v] = s.values[s.values.length - 1];
            return svg`<circle class="dot series-${series.indexOf(s)}" cx=${x(t)} cy=${y(v)} r="3"
              data-index=${i}><title>${s.label}: ${format(v)}${unit}</title></circle>`;
          })}
        </svg>`}
    <ul class="legend">
      ${series.map(
        (s, i) => html`<li><span class="swatch series-${i}"></span>${s.label}
          ${last(s) === null ? nothing : html`<strong>${format(last(s))}${unit}</strong>`}</li>`,
      )}
    </ul>
  </figure>`;
}

/** Points of an API history (`[{time, …}]`) as chart values of `field`. */
export const valuesOf = (points, field) => points.map((p) => [Date.parse(p.time), p[field]]);
