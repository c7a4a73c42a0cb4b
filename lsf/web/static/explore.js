// lsf explore: the page. Holds the current latent z, asks the server to decode it (one
// request in flight, the newest state wins), draws the pair panel on a canvas from the JSON
// of /api/pair, and keeps the state in the URL hash (#pc=0:1.5,3:-2&pair=pca:0,1, or z=...
// as base64 float32 when z leaves the span of the sliders). With regions in the analysis it
// colours the pair panel's sample points by region, names the region of the current latent
// and jumps to a region's centre. No framework, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = { 1: "#c0392b", 2: "#e67e22", 3: "#d4ac0d" };
const VERDICT_CLASS = { "inside the core": "core", "in the tail": "tail", "outside the data": "outside" };

let info = null;
let panel = null;
const state = { z: null, version: 0, pair: { system: "pca", i: 0, j: 1 } };
const decoding = { inflight: false, dirty: false, displayVersion: -1, shownVersion: -1 };
let measuring = null;
let playing = 0;
window.lsfTimings = [];  // {kind, ms}: slider release / click -> new image shown

// ---- small helpers -----------------------------------------------------------------------

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function status(text, error = false) {
  const el = $("status");
  el.textContent = text;
  el.className = "status show" + (error ? " error" : "");
  clearTimeout(status.timer);
  status.timer = setTimeout(() => { el.className = "status"; }, error ? 5000 : 1800);
}

const dot = (a, b) => { let s = 0; for (let k = 0; k < a.length; k++) s += a[k] * b[k]; return s; };
const fmt = (v, digits = 3) => (Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(digits)).toString());
const pct = (p) => (p >= 0.9995 ? ">99.9 %" : p <= 0.0005 ? "<0.1 %" : (100 * p).toFixed(1) + " %");

function offset(z, origin) {
  const out = new Float64Array(z.length);
  for (let k = 0; k < z.length; k++) out[k] = z[k] - (origin ? origin[k] : 0);
  return out;
}

// ---- PCA slider coordinates (units of sigma) ----------------------------------------------

function sliderValue(k) {
  const sigma = info.pca_sigma[k];
  return sigma > 0 ? dot(offset(state.z, info.centre), info.pca_axes[k]) / sigma : 0;
}

function moveAlong(axis, delta) {
  for (let d = 0; d < state.z.length; d++) state.z[d] += delta * axis[d];
}

function buildSliders() {
  const box = $("sliders");
  box.innerHTML = "";
  for (let k = 0; k < info.components; k++) {
    const row = document.createElement("div");
    row.className = "slider";
    const share = (100 * info.explained_variance_ratio[k]).toFixed(1);
    row.innerHTML = `<label for="pc${k}">pc${k} <span class="small">${share} %</span></label>
      <input id="pc${k}" type="range" min="-4" max="4" step="0.01" value="0">
      <output id="pc${k}-value">0.00 σ</output>`;
    box.appendChild(row);
    const input = row.querySelector("input");
    input.addEventListener("input", () => {
      const sigma = info.pca_sigma[k];
      moveAlong(info.pca_axes[k], (Number(input.value) - sliderValue(k)) * sigma);
      changed({ sliders: k });
    });
    input.addEventListener("change", () => startMeasure("slider"));
  }
}

function updateSliders(skip) {
  for (let k = 0; k < info.components; k++) {
    const t = sliderValue(k);
    if (k !== skip) $(`pc${k}`).value = Math.max(-4, Math.min(4, t)).toFixed(2);
    $(`pc${k}-value`).textContent = `${t >= 0 ? "+" : ""}${t.toFixed(2)} σ`;
  }
}

// ---- decoding and the readout -------------------------------------------------------------

function changed(options = {}) {
  state.version += 1;
  updateSliders(options.sliders);
  drawPanel();
  saveUrl();
  if (!options.frame) scheduleDecode();
}

function startMeasure(kind) {
  measuring = { kind, version: state.version, t0: performance.now() };
  if (decoding.shownVersion >= state.version) finishMeasure();
}

function finishMeasure() {
  const ms = performance.now() - measuring.t0;
  window.lsfTimings.push({ kind: measuring.kind, ms });
  $("latency").textContent = `${measuring.kind} → new image in ${ms.toFixed(0)} ms`;
  measuring = null;
}

async function scheduleDecode() {
  if (decoding.inflight) { decoding.dirty = true; return; }
  decoding.inflight = true;
  const version = state.version;
  try {
    const frame = await api("/api/decode", { z: Array.from(state.z) });
    await show(frame, version);
  } catch (error) {
    status(error.message, true);
  }
  decoding.inflight = false;
  if (decoding.dirty) { decoding.dirty = false; scheduleDecode(); }
}

async function show(frame, version) {
  if (version <= decoding.displayVersion) return;  // a newer state is already on its way
  decoding.displayVersion = version;
  const img = $("face");
  img.src = frame.image;
  renderReadout(frame.position);
  renderRegion(frame.region);
  try { await img.decode(); } catch (error) { /* replaced by a newer image meanwhile */ }
  if (decoding.displayVersion !== version) return;
  decoding.shownVersion = version;
  if (measuring && version >= measuring.version) finishMeasure();
  document.body.dataset.shown = String(decoding.shownVersion);
}

function renderReadout(p) {
  const verdict = $("verdict");
  verdict.textContent = p.verdict;
  verdict.className = "verdict " + (VERDICT_CLASS[p.verdict] || "");
  $("reason").textContent = p.reason.replace("chi2", "χ²").replace("d2", "d²");
  $("d2").textContent = fmt(p.d2, 4);
  $("d2dof").textContent = `${fmt(p.d2_per_dof)}  (dof ${p.dof})`;
  $("chi2").textContent = pct(p.chi2_percentile);
  $("datap").textContent = pct(p.data_percentile);
  const fact = p.trim_fact == null ? "" : `  (trim at ${p.trim_fact})`;
  $("trim").textContent = `${fmt(p.trim_radius)}${fact}`;
}

const OUTSIDE_COLOUR = "#b0b0b0";
const regionColour = (r) => (r >= 0 && info.regions[r] ? info.regions[r].colour : OUTSIDE_COLOUR);

function renderRegion(region) {
  if (!region) return;
  const cell = $("region");
  const name = region.region >= 0 ? `region ${region.region}` : `outside (nearest: region ${region.nearest})`;
  cell.textContent = `${name}, d² ${fmt(region.d2)} of ${fmt(region.radius2)}`;
  cell.style.color = regionColour(region.region);
}

function setState(z, frame) {
  state.z = Float64Array.from(z);
  changed({ frame: Boolean(frame) });
  if (frame) show(frame, state.version);
}

// ---- the pair panel -------------------------------------------------------------------------

const MARGIN = { left: 50, right: 14, top: 12, bottom: 40 };

function niceTicks(lo, hi, count = 5) {
  const raw = (hi - lo) / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9 * step; t += step) ticks.push(t);
  return ticks;
}

function currentPoint() {
  const rel = offset(state.z, panel.origin);
  return [dot(rel, panel.axes[0]), dot(rel, panel.axes[1])];
}

function scales() {
  const canvas = $("panel");
  const [x0, y0, x1, y1] = panel.extent;
  const w = canvas.width - MARGIN.left - MARGIN.right;
  const h = canvas.height - MARGIN.top - MARGIN.bottom;
  return {
    sx: (x) => MARGIN.left + ((x - x0) / (x1 - x0)) * w,
    sy: (y) => MARGIN.top + h - ((y - y0) / (y1 - y0)) * h,
    ix: (px) => x0 + ((px - MARGIN.left) / w) * (x1 - x0),
    iy: (py) => y0 + ((MARGIN.top + h - py) / h) * (y1 - y0),
    w, h,
  };
}

function polyline(ctx, points, sx, sy, close) {
  ctx.beginPath();
  points.forEach(([x, y], k) => (k ? ctx.lineTo(sx(x), sy(y)) : ctx.moveTo(sx(x), sy(y))));
  if (close) ctx.closePath();
  ctx.stroke();
}

function drawPanel() {
  const canvas = $("panel");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!panel || !state.z) return;
  const { sx, sy, w, h } = scales();
  const [x0, y0, x1, y1] = panel.extent;
  ctx.save();
  ctx.beginPath();
  ctx.rect(MARGIN.left, MARGIN.top, w, h);
  ctx.clip();
  ctx.fillStyle = "#fbfcfd";
  ctx.fillRect(MARGIN.left, MARGIN.top, w, h);
  if (panel.density) {
    const { x_edges: ex, y_edges: ey, values } = panel.density;
    for (let a = 0; a < values.length; a++) {
      for (let b = 0; b < values[a].length; b++) {
        const v = values[a][b];
        if (v <= 0.01) continue;
        ctx.fillStyle = `rgba(31, 58, 147, ${(0.42 * Math.sqrt(v)).toFixed(3)})`;
        const left = sx(ex[a]), top = sy(ey[b + 1]);
        ctx.fillRect(left, top, sx(ex[a + 1]) - left + 0.5, sy(ey[b]) - top + 0.5);
      }
    }
  }
  if (panel.regions) {
    const { points, labels } = panel.regions;
    ctx.globalAlpha = 0.55;
    for (let k = 0; k < points.length; k++) {
      ctx.fillStyle = regionColour(labels[k]);
      ctx.fillRect(sx(points[k][0]) - 1.5, sy(points[k][1]) - 1.5, 3, 3);
    }
    ctx.globalAlpha = 1;
  }
  if (panel.density) {
    ctx.strokeStyle = "#1f3a93";
    ctx.lineWidth = 1.3;
    for (const contour of panel.contours) {
      for (const line of contour.lines) polyline(ctx, line, sx, sy, false);
    }
  }
  ctx.lineWidth = 2;
  for (const ellipse of panel.ellipses) {
    ctx.strokeStyle = COLORS[ellipse.sigma];
    polyline(ctx, ellipse.points, sx, sy, true);
  }
  const [cx, cy] = panel.centre;
  ctx.strokeStyle = "#111";
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(sx(cx) - 7, sy(cy)); ctx.lineTo(sx(cx) + 7, sy(cy));
  ctx.moveTo(sx(cx), sy(cy) - 7); ctx.lineTo(sx(cx), sy(cy) + 7);
  ctx.stroke();
  ctx.restore();

  // axes, ticks and names
  ctx.strokeStyle = "#8c959f";
  ctx.lineWidth = 1;
  ctx.strokeRect(MARGIN.left, MARGIN.top, w, h);
  ctx.fillStyle = "#57606a";
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "center";
  for (const t of niceTicks(x0, x1)) {
    ctx.fillText(fmt(t), sx(t), MARGIN.top + h + 14);
    ctx.beginPath(); ctx.moveTo(sx(t), MARGIN.top + h); ctx.lineTo(sx(t), MARGIN.top + h + 4); ctx.stroke();
  }
  ctx.textAlign = "right";
  for (const t of niceTicks(y0, y1)) {
    ctx.fillText(fmt(t), MARGIN.left - 7, sy(t) + 4);
    ctx.beginPath(); ctx.moveTo(MARGIN.left - 4, sy(t)); ctx.lineTo(MARGIN.left, sy(t)); ctx.stroke();
  }
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "#1f2328";
  ctx.textAlign = "center";
  ctx.fillText(panel.names[0], MARGIN.left + w / 2, canvas.height - 6);
  ctx.save();
  ctx.translate(13, MARGIN.top + h / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(panel.names[1], 0, 0);
  ctx.restore();

  // the current latent (clamped to the border with an arrow when it is off the panel)
  const [u, v] = currentPoint();
  const px = Math.min(Math.max(sx(u), MARGIN.left + 6), MARGIN.left + w - 6);
  const py = Math.min(Math.max(sy(v), MARGIN.top + 6), MARGIN.top + h - 6);
  const inside = px === sx(u) && py === sy(v);
  ctx.lineWidth = 2.5;
  ctx.strokeStyle = "#fff";
  ctx.fillStyle = "#111";
  ctx.beginPath();
  if (inside) {
    ctx.arc(px, py, 6, 0, 2 * Math.PI);
  } else {
    const angle = Math.atan2(-(sy(v) - py), sx(u) - px);  // towards the point, y up
    ctx.moveTo(px + 9 * Math.cos(angle), py - 9 * Math.sin(angle));
    ctx.lineTo(px + 7 * Math.cos(angle + 2.4), py - 7 * Math.sin(angle + 2.4));
    ctx.lineTo(px + 7 * Math.cos(angle - 2.4), py - 7 * Math.sin(angle - 2.4));
    ctx.closePath();
  }
  ctx.stroke();
  ctx.fill();
}

function caption() {
  const s = panel.stats;
  const parts = [`${panel.names[0]} × ${panel.names[1]}`];
  if (s) {
    if (s.correlation != null) parts.push(`r = ${s.correlation.toFixed(2)}`);
    if (s.coverage_1sigma != null) {
      const c = [s.coverage_1sigma, s.coverage_2sigma, s.coverage_3sigma].map((x) => (100 * x).toFixed(0));
      parts.push(`inside the 1/2/3σ ellipses: ${c.join(" / ")} % (normal: 39 / 86 / 99 %)`);
    }
    if (s.score != null) parts.push(`non-ellipticity score ${s.score.toFixed(2)}`);
  }
  parts.push(panel.density ? `density of ${panel.density_rows} latents (${panel.density_source})`
    : "no density for this pair (start with --latents to count it)");
  if (panel.regions) {
    parts.push(`${panel.regions.points.length} latents coloured by region` +
      (panel.regions.exact ? "" : " (approximate: reconstructed from the regions' PCA coordinates)"));
  }
  $("pair-caption").textContent = parts.join(" · ");
}

async function loadPanel() {
  const { system, i, j } = state.pair;
  try {
    panel = await api(`/api/pair?system=${system}&i=${i}&j=${j}`);
  } catch (error) {
    status(error.message, true);
    return;
  }
  caption();
  drawPanel();
  saveUrl();
}

function choosePair(system, i, j) {
  state.pair = { system, i, j };
  $("system").value = system;
  $("pair-i").value = i;
  $("pair-j").value = j;
  const key = `${system}:${Math.min(i, j)},${Math.max(i, j)}`;
  const listed = Array.from($("suggested").options).some((o) => o.value === key);
  $("suggested").value = listed ? key : "";
  loadPanel();
}

function panelClick(event) {
  if (!panel) return;
  const canvas = $("panel");
  const box = canvas.getBoundingClientRect();
  const px = ((event.clientX - box.left) * canvas.width) / box.width;
  const py = ((event.clientY - box.top) * canvas.height) / box.height;
  const { ix, iy, w, h } = scales();
  if (px < MARGIN.left || px > MARGIN.left + w || py < MARGIN.top || py > MARGIN.top + h) return;
  const [u, v] = currentPoint();
  moveAlong(panel.axes[0], ix(px) - u);
  moveAlong(panel.axes[1], iy(py) - v);
  changed();
  startMeasure("click");
}

// ---- samplers, real images and paths ------------------------------------------------------

function tile(frame, onClick) {
  const el = document.createElement("div");
  el.className = "tile";
  el.title = `${frame.position.verdict}; d² ${fmt(frame.position.d2)}`;
  el.innerHTML = `<img src="${frame.image}" alt=""><span class="badge ${VERDICT_CLASS[frame.position.verdict]}"></span>`;
  el.addEventListener("click", onClick);
  return el;
}

async function drawSampler(name, button) {
  document.querySelectorAll("#sampler-buttons button").forEach((b) => b.classList.remove("active"));
  button.classList.add("active");
  const seed = Math.floor(Math.random() * 1e6);
  let result;
  try {
    result = await api("/api/sample", { sampler: name, n: 16, seed });
  } catch (error) {
    status(error.message, true);
    return;
  }
  const grid = $("sampler-grid");
  grid.innerHTML = "";
  const counts = {};
  for (const frame of result.frames) {
    counts[frame.position.verdict] = (counts[frame.position.verdict] || 0) + 1;
    grid.appendChild(tile(frame, () => setState(frame.z, frame)));
  }
  const summary = Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ");
  $("sampler-caption").textContent = `${name}, seed ${seed}: ${summary}`;
}

function realView(label, image) {
  const el = document.createElement("div");
  el.className = "real-view";
  el.innerHTML = image ? `<img src="${image}" alt="${label}">${label}` : `<div class="muted">${label}: no pixels</div>`;
  return el;
}

async function play(frames) {
  const run = ++playing;
  const strip = $("path-strip");
  strip.innerHTML = "";
  const images = frames.map((frame) => {
    const img = document.createElement("img");
    img.src = frame.image;
    img.title = frame.position.verdict;
    img.addEventListener("click", () => { playing++; mark(img); setState(frame.z, frame); });
    strip.appendChild(img);
    return img;
  });
  const mark = (current) => images.forEach((img) => img.classList.toggle("current", img === current));
  for (let k = 0; k < frames.length; k++) {
    if (run !== playing) return;
    mark(images[k]);
    setState(frames[k].z, frames[k]);
    await new Promise((resolve) => setTimeout(resolve, 160));
  }
}

async function projectA() {
  const id = Number($("id-a").value);
  try {
    const result = await api("/api/project", { id });
    const views = $("real-views");
    views.innerHTML = "";
    views.append(realView(`id ${id}`, result.source), realView("reconstruction", result.image));
    setState(result.z, result);
  } catch (error) {
    status(error.message, true);
  }
}

async function interpolate() {
  const a = Number($("id-a").value), b = Number($("id-b").value);
  try {
    const result = await api("/api/path", { kind: "interpolate", a, b, steps: 12 });
    const views = $("real-views");
    views.innerHTML = "";
    const frames = result.frames;
    views.append(
      realView(`id ${a}`, result.ends[0].source), realView("reconstruction", frames[0].image),
      realView(`id ${b}`, result.ends[1].source), realView("reconstruction", frames[frames.length - 1].image),
    );
    play(frames);
  } catch (error) {
    status(error.message, true);
  }
}

async function originToCentre() {
  try {
    const result = await api("/api/path", { kind: "origin_to_centre", steps: 16 });
    $("real-views").innerHTML = "";
    play(result.frames);
  } catch (error) {
    status(error.message, true);
  }
}

// ---- regions: legend and jump to a region's centre ----------------------------------------

function setupRegions() {
  if (!info.regions.length) return;
  const jump = $("region-jump");
  const legend = $("region-legend");
  for (const region of info.regions) {
    const option = document.createElement("option");
    option.value = String(region.region);
    option.textContent = `region ${region.region} (${(100 * region.share).toFixed(1)} %)`;
    jump.appendChild(option);
    const item = document.createElement("span");
    item.innerHTML = `<i class="region" style="background:${region.colour}"></i>region ${region.region}`;
    legend.appendChild(item);
  }
  const outside = document.createElement("span");
  outside.innerHTML = `<i class="region" style="background:${OUTSIDE_COLOUR}"></i>outside`;
  legend.appendChild(outside);
  jump.hidden = legend.hidden = $("region-row").hidden = false;
  jump.addEventListener("change", () => {
    const region = info.regions[Number(jump.value)];
    if (jump.value === "" || !region) return;
    playing++;
    setState(region.centre);
    startMeasure("region");
    status(`centre of region ${region.region}`);
    jump.value = "";
  });
}

// ---- the URL holds the state --------------------------------------------------------------

function encodeLatent(z) {
  const bytes = new Uint8Array(Float32Array.from(z).buffer);
  let text = "";
  bytes.forEach((b) => { text += String.fromCharCode(b); });
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeLatent(text) {
  const raw = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  if (bytes.length !== 4 * info.dim) throw new Error(`z in the URL has ${bytes.length / 4} components, not ${info.dim}`);
  return Float64Array.from(new Float32Array(bytes.buffer));
}

function stateHash() {
  const t = [];
  const rest = offset(state.z, info.centre);
  for (let k = 0; k < info.components; k++) {
    const value = sliderValue(k);
    for (let d = 0; d < rest.length; d++) rest[d] -= value * info.pca_sigma[k] * info.pca_axes[k][d];
    if (Math.abs(value) >= 5e-5) t.push(`${k}:${Number(value.toFixed(4))}`);
  }
  const scale = Math.max(1e-12, ...info.pca_sigma);
  const inSpan = rest.every((r) => Math.abs(r) < 1e-6 * scale);
  const parts = [inSpan ? (t.length ? `pc=${t.join(",")}` : "") : `z=${encodeLatent(state.z)}`];
  parts.push(`pair=${state.pair.system}:${state.pair.i},${state.pair.j}`);
  return "#" + parts.filter(Boolean).join("&");
}

window.lsfStateHash = () => stateHash();

function saveUrl() {
  clearTimeout(saveUrl.timer);
  saveUrl.timer = setTimeout(() => history.replaceState(null, "", stateHash()), 150);
}

function readUrl() {
  const params = new URLSearchParams(location.hash.slice(1));
  state.z = Float64Array.from(info.centre);
  try {
    if (params.get("z")) state.z = decodeLatent(params.get("z"));
    for (const entry of (params.get("pc") || "").split(",").filter(Boolean)) {
      const [k, value] = entry.split(":").map(Number);
      if (!(k >= 0 && k < info.components && Number.isFinite(value))) throw new Error(`bad pc entry ${entry}`);
      moveAlong(info.pca_axes[k], value * info.pca_sigma[k]);
    }
    const pair = /^(pca|original):(\d+),(\d+)$/.exec(params.get("pair") || "");
    if (pair && Number(pair[2]) < info.dim && Number(pair[3]) < info.dim && pair[2] !== pair[3]) {
      state.pair = { system: pair[1], i: Number(pair[2]), j: Number(pair[3]) };
    }
  } catch (error) {
    state.z = Float64Array.from(info.centre);
    status(`ignored the URL state: ${error.message}`, true);
  }
}

// ---- start --------------------------------------------------------------------------------

async function start() {
  info = await api("/api/info");
  $("subtitle").textContent = `${info.name} · ${info.dim}-dim latents of ${info.n_latents} images · ` +
    `${info.components_for_90} PCA components hold 90 % of the variance` +
    (info.fragmentation ? ` · ${info.fragmentation}` : "");
  buildSliders();
  readUrl();
  for (const input of ["pair-i", "pair-j"]) $(input).max = info.dim - 1;
  $("system").value = state.pair.system;
  $("pair-i").value = state.pair.i;
  $("pair-j").value = state.pair.j;
  const suggested = $("suggested");
  for (const p of info.pairs) {
    const option = document.createElement("option");
    option.value = `${p.system}:${p.i},${p.j}`;
    option.textContent = `${p.system === "pca" ? "pc" : "z"}${p.i} × ${p.system === "pca" ? "pc" : "z"}${p.j} (score ${p.score.toFixed(2)})`;
    suggested.appendChild(option);
  }
  const key = `${state.pair.system}:${Math.min(state.pair.i, state.pair.j)},${Math.max(state.pair.i, state.pair.j)}`;
  if (Array.from(suggested.options).some((o) => o.value === key)) suggested.value = key;
  suggested.addEventListener("change", () => {
    const m = /^(pca|original):(\d+),(\d+)$/.exec(suggested.value);
    if (m) choosePair(m[1], Number(m[2]), Number(m[3]));
  });
  const pairInputs = () => {
    const i = Number($("pair-i").value), j = Number($("pair-j").value);
    if (Number.isInteger(i) && Number.isInteger(j) && i !== j && i >= 0 && j >= 0 && i < info.dim && j < info.dim) {
      choosePair($("system").value, i, j);
    } else {
      status(`choose two different components in 0..${info.dim - 1}`, true);
    }
  };
  for (const id of ["system", "pair-i", "pair-j"]) $(id).addEventListener("change", pairInputs);
  $("panel").addEventListener("click", panelClick);
  for (const name of info.samplers) {
    const button = document.createElement("button");
    button.textContent = name;
    button.addEventListener("click", () => drawSampler(name, button));
    $("sampler-buttons").appendChild(button);
  }
  $("centre").addEventListener("click", () => { playing++; setState(info.centre); });
  setupRegions();
  $("origin").addEventListener("click", originToCentre);
  $("project-a").addEventListener("click", projectA);
  $("interpolate").addEventListener("click", interpolate);
  $("copy-link").addEventListener("click", async () => {
    history.replaceState(null, "", stateHash());
    try { await navigator.clipboard.writeText(location.href); status("link copied"); } catch (error) { status("copy the address bar: it holds the state"); }
  });
  if (info.ids == null) {
    for (const id of ["id-a", "id-b", "project-a", "interpolate"]) $(id).disabled = true;
    $("real-note").textContent = "start lsf explore with --latents or --shards to use real images";
  } else {
    for (const id of ["id-a", "id-b"]) $(id).max = info.ids - 1;
    $("real-note").textContent = `ids 0..${info.ids - 1}` + (info.source_images ? "" : "; no source pixels (give --shards)");
  }
  updateSliders();
  await loadPanel();
  await scheduleDecode();
  document.body.dataset.ready = "true";
}

start().catch((error) => status(`cannot start: ${error.message}`, true));
