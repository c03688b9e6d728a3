// Inline SVG drawings: a map of district boundaries and a bar chart of counts (no library).
"use strict";
const SVG_NS = "http://www.w3.org/2000/svg";

// Web-Mercator, in degrees of longitude per unit: x = lon, y = mercator(lat).
const mercY = (lat) => (180 / Math.PI) * Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360));

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return geometry.coordinates;
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
  return [];
}

function drawMap(svg, collection) {
  const W = 600, H = 360, PAD = 10;
  const features = collection.features || [];
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (const f of features) for (const ring of rings(f.geometry)) for (const [lon, lat] of ring) {
    const y = mercY(lat);
    minX = Math.min(minX, lon); maxX = Math.max(maxX, lon); minY = Math.min(minY, y); maxY = Math.max(maxY, y);
  }
  if (!features.length || !isFinite(minX)) { svg.outerHTML = `<p class="muted">No boundaries for these areas.</p>`; return; }
  const scale = Math.min((W - 2 * PAD) / Math.max(maxX - minX, 1e-6), (H - 2 * PAD) / Math.max(maxY - minY, 1e-6));
  const offX = (W - (maxX - minX) * scale) / 2, offY = (H - (maxY - minY) * scale) / 2;
  const px = (lon) => (offX + (lon - minX) * scale).toFixed(1);
  const py = (lat) => (offY + (maxY - mercY(lat)) * scale).toFixed(1);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const parts = [];
  const labels = [];
  // Context first, affected areas on top.
  const ordered = [...features].sort((a, b) => Number(a.properties.affected) - Number(b.properties.affected));
  for (const f of ordered) {
    const d = rings(f.geometry).map(ring => "M" + ring.map(([lon, lat]) => `${px(lon)},${py(lat)}`).join("L") + "Z").join("");
    const p = f.properties;
    parts.push(`<path class="${p.affected ? "affected" : "context"}" data-code="${esc(p.code)}" d="${d}"><title>${esc(p.name)} (${esc(p.code)})${p.affected ? ": affected" : ""}</title></path>`);
    if (p.affected) {
      let sx = 0, sy = 0, n = 0;
      for (const ring of rings(f.geometry)) for (const [lon, lat] of ring) { sx += Number(px(lon)); sy += Number(py(lat)); n++; }
      if (n) labels.push(`<text x="${(sx / n).toFixed(1)}" y="${(sy / n).toFixed(1)}" text-anchor="middle" font-size="11" fill="#1d2330" stroke="#fff" stroke-width="3" paint-order="stroke">${esc(p.name)}</text>`);
    }
  }
  svg.innerHTML = parts.join("") + labels.join("");
}

function drawChart(svg, series) {
  const W = 640, H = 220, L = 36, R = 10, T = 10, B = 34;
  const points = series.points || [];
  const judged = new Map((series.judged || []).map(j => [j.period, j]));
  const top = Math.max(1, ...points.map(p => p.count), ...[...judged.values()].flatMap(j => [Number(j.expected) || 0, Number(j.threshold) || 0]));
  const n = Math.max(points.length, 1);
  const bw = (W - L - R) / n;
  const x = (i) => L + i * bw;
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const out = [`<line class="axis" x1="${L}" y1="${y(0)}" x2="${W - R}" y2="${y(0)}"/>`];
  for (const v of [0, top / 2, top]) {
    out.push(`<text x="${L - 4}" y="${y(v) + 3}" text-anchor="end">${Number.isInteger(v) ? v : v.toFixed(1)}</text>`);
    out.push(`<line class="axis" x1="${L - 2}" y1="${y(v)}" x2="${L}" y2="${y(v)}"/>`);
  }
  points.forEach((p, i) => {
    const h = y(0) - y(p.count);
    out.push(`<rect class="bar${judged.has(p.period) ? " judged" : ""}" x="${(x(i) + bw * 0.1).toFixed(1)}" y="${y(p.count).toFixed(1)}" width="${(bw * 0.8).toFixed(1)}" height="${Math.max(h, 0).toFixed(1)}"><title>${esc(p.period)}: ${p.count}</title></rect>`);
  });
  const lines = {expected: [], threshold: []};
  points.forEach((p, i) => {
    const j = judged.get(p.period);
    if (!j) return;
    for (const kind of ["expected", "threshold"]) {
      if (j[kind] === null || j[kind] === undefined) continue;
      const yy = y(Number(j[kind])).toFixed(1);
      lines[kind].push(`${(x(i) + bw / 2).toFixed(1)},${yy}`);
      out.push(`<path class="${kind}" d="M${x(i).toFixed(1)},${yy}H${(x(i) + bw).toFixed(1)}"><title>${kind} ${j[kind]} (${esc(j.method)})</title></path>`);
    }
  });
  for (const kind of ["expected", "threshold"]) if (lines[kind].length > 1) out.push(`<polyline class="${kind}" points="${lines[kind].join(" ")}"/>`);
  const ticks = [0, Math.floor((n - 1) / 2), n - 1].filter((v, i, a) => a.indexOf(v) === i && points[v]);
  for (const i of ticks) out.push(`<text x="${(x(i) + bw / 2).toFixed(1)}" y="${H - B + 14}" text-anchor="middle">${esc(points[i].period)}</text>`);
  out.push(`<text x="${L}" y="${H - 4}">${series.freq === "D" ? "day" : "week (Monday)"}</text>`);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.innerHTML = out.join("");
}
