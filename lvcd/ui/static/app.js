// lvcd ui: one page over one shot manifest. Plain JS, no build step. Element ids are stable (tests use them):
// shot-<name>, thumb-<name>-<i>, drop-<name>, frame-<name>, drop-extra-<name>, extra-frame-<name>,
// backend-<name>, preview-<name>, render-<name>, download-<name>, status-<name>, progress-<name>,
// preview-panel-<name>, preview-img-<name>, error-<name>; render-all, progress-all, progress-all-text,
// view-line, view-color, download-video, filter, filter-state, banner, messages.
"use strict";

const state = { data: null, version: null, view: "line", cards: {}, signatures: {}, job: null };
const $ = (id) => document.getElementById(id);

async function api(method, url, body) {
  const opts = { method, headers: method === "GET" ? {} : { "X-LVCD": "1" } };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const r = await fetch(url, opts);
  let payload = null;
  try { payload = await r.json(); } catch (e) { payload = null; }
  if (!r.ok) {
    const msg = (payload && payload.error) || `${method} ${url}: HTTP ${r.status}`;
    const err = new Error(msg);
    err.problems = (payload && payload.problems) || [];
    throw err;
  }
  return payload;
}

function toast(text, bad) {
  const el = document.createElement("div");
  el.className = "toast" + (bad ? " bad" : "");
  el.textContent = text;
  $("messages").appendChild(el);
  setTimeout(() => el.remove(), bad ? 9000 : 3500);
}

function errorText(e) { return e.message + (e.problems && e.problems.length ? "\n• " + e.problems.join("\n• ") : ""); }

function fmtEta(s) {
  if (s === null || s === undefined) return "";
  if (s < 60) return `${Math.ceil(s)} s left`;
  const m = Math.floor(s / 60), r = Math.round(s % 60);
  return m < 60 ? `${m} min ${r} s left` : `${Math.floor(m / 60)} h ${m % 60} min left`;
}

function frameUrl(frame, kind, width, bust) {
  return `/api/frames/${frame}.png?kind=${kind}&width=${width}` + (bust ? `&t=${bust}` : "");
}

// ---------------------------------------------------------------------------------------------------- cards
function buildCard(shot, i) {
  const node = $("shot-template").content.firstElementChild.cloneNode(true);
  const n = shot.name;
  node.id = `shot-${n}`;
  node.dataset.shot = n;
  const q = (sel) => node.querySelector(sel);
  q(".shot-index").textContent = `${i + 1}`;
  q(".shot-name").textContent = n;
  q(".range").textContent = `${shot.start}–${shot.end - 1} · ${shot.frames} fr`;
  q(".tc").textContent = `${shot.tc_start} – ${shot.tc_end}`;
  q(".status").id = `status-${n}`;
  q(".bar.small").id = `progress-${n}`;
  q(".eta").id = `eta-${n}`;
  q(".error").id = `error-${n}`;

  const thumbs = q(".thumbs");
  shot.thumbs.forEach((f, k) => {
    const t = document.createElement("div");
    t.className = "thumb";
    t.id = `thumb-${n}-${k}`;
    t.dataset.frame = f;
    const img = document.createElement("img");
    img.alt = `frame ${f}`;
    img.loading = "lazy";
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = `${f}`;
    t.append(img, label);
    thumbs.appendChild(t);
  });

  // main keyframe
  const primary = shot.keyframes.find((k) => !k.external) || shot.keyframes[0];
  const main = q(".main-drop");
  main.id = `drop-${n}`;
  const frameInput = q(".frame-input");
  frameInput.id = `frame-${n}`;
  frameInput.min = shot.start; frameInput.max = shot.end - 1;
  frameInput.value = primary && primary.frame !== null ? primary.frame : shot.start;
  if (primary) {
    const img = q(".key-img");
    img.src = `/api/shots/${encodeURIComponent(n)}/keyframes/${primary.frame === null ? -1 : primary.frame}/image?v=${
      encodeURIComponent(primary.image)}`;
    img.alt = `keyframe ${primary.image}`;
    img.title = primary.external ? `${primary.image} (external reference)` : `${primary.image} colours frame ${primary.frame}`;
    img.classList.remove("hidden");
    main.classList.add("filled");
  }
  wireDrop(main, n, () => ({ frame: frameInput.value, mode: "replace" }));

  // extra keyframes
  const extras = q(".extras");
  shot.keyframes.filter((k) => k !== primary).forEach((k) => {
    const el = document.createElement("div");
    el.className = "extra";
    el.id = `extra-${n}-${k.frame}`;
    el.innerHTML = `<img alt=""><div class="label"></div><button class="remove" title="remove this keyframe">×</button>`;
    el.querySelector("img").src = `/api/shots/${encodeURIComponent(n)}/keyframes/${k.frame}/image?v=${encodeURIComponent(k.image)}`;
    el.querySelector(".label").textContent = `frame ${k.frame}`;
    el.querySelector(".remove").onclick = () => removeKeyframe(n, k.frame);
    extras.appendChild(el);
  });
  if (primary && primary.frame !== null) {
    const rm = document.createElement("button");
    rm.className = "remove";
    rm.id = `remove-key-${n}`;
    rm.textContent = "×";
    rm.title = "remove this keyframe (its image stays on disk)";
    rm.onclick = (ev) => { ev.stopPropagation(); removeKeyframe(n, primary.frame); };
    main.appendChild(rm);
  }
  const extraDrop = q(".extra-drop");
  extraDrop.id = `drop-extra-${n}`;
  const extraFrame = q(".extra-frame");
  extraFrame.id = `extra-frame-${n}`;
  extraFrame.min = shot.start; extraFrame.max = shot.end - 1;
  extraFrame.value = Math.min(shot.end - 1, Math.floor((shot.start + shot.end) / 2));
  wireDrop(extraDrop, n, () => ({ frame: extraFrame.value, mode: "add" }));

  // options
  const backend = q(".backend");
  backend.id = `backend-${n}`;
  backend.value = shot.options.backend || "";
  backend.onchange = () => setOptions(n, { backend: backend.value || null });
  for (const key of ["seed", "steps"]) {
    const el = q(`.opt-${key}`);
    el.id = `opt-${key}-${n}`;
    el.value = shot.options[key] ?? "";
    el.onchange = () => setOptions(n, { [key]: el.value === "" ? null : Number(el.value) });
  }
  const snap = q(".opt-snap");
  snap.id = `opt-snap-${n}`;
  snap.checked = !!shot.options.snap;
  snap.onchange = () => setOptions(n, { snap: snap.checked ? true : null });
  // keep_lines has three states: not set (the backend's default: lines kept for bucket), explicitly on, off
  const keep = q(".opt-keep_lines");
  keep.id = `opt-keep_lines-${n}`;
  const kl = shot.options.keep_lines;
  keep.value = kl === true ? "true" : kl === false ? "false" : "";
  keep.onchange = () => setOptions(n, { keep_lines: keep.value === "" ? null : keep.value === "true" });

  const pv = q(".preview-btn");
  pv.id = `preview-${n}`;
  pv.disabled = shot.keyframes.length === 0;
  pv.title = shot.keyframes.length ? "colour the first window of this shot" : "drop a keyframe first";
  pv.onclick = () => preview(n, pv);
  const rb = q(".render-btn");
  rb.id = `render-${n}`;
  rb.disabled = shot.keyframes.length === 0;
  rb.onclick = () => startRender([n]);
  const dl = q(".download-btn");
  dl.id = `download-${n}`;
  dl.href = `/api/download/shots/${encodeURIComponent(n)}.zip`;

  const panel = q(".preview-panel");
  panel.id = `preview-panel-${n}`;
  q(".pv-color").id = `preview-img-${n}`;
  q(".pv-line").id = `preview-line-${n}`;
  q(".pv-slider").id = `preview-slider-${n}`;
  if (shot.preview) showPreview(node, shot.preview);
  return node;
}

function showPreview(node, info) {
  const q = (sel) => node.querySelector(sel);
  const panel = q(".preview-panel");
  const slider = q(".pv-slider");
  const frames = info.frames;
  slider.max = frames.length - 1;
  slider.value = Math.min(Number(slider.value) || 0, frames.length - 1);
  const show = () => {
    const f = frames[Number(slider.value)];
    q(".pv-line").src = frameUrl(f, "line", 640);
    q(".pv-color").src = frameUrl(f, "color", 640, info.made);
    q(".pv-frame").textContent = `frame ${f} (${Number(slider.value) + 1} of ${frames.length})`;
  };
  slider.oninput = show;
  q(".pv-caption").textContent = `${info.backend} preview · frames ${frames[0]}–${frames[frames.length - 1]} · ${
    info.seconds} s` + (info.why ? ` · ${info.why}` : "");
  panel.classList.remove("hidden");
  show();
}

function setThumbs(node, shot) {
  node.querySelectorAll(".thumb").forEach((t) => {
    const img = t.querySelector("img");
    const f = Number(t.dataset.frame);
    const colour = state.view === "color";
    t.classList.remove("fallback");
    img.onerror = colour ? () => { img.onerror = null; t.classList.add("fallback"); img.src = frameUrl(f, "line", 320); } : null;
    const bust = colour ? `${shot.status.updated || 0}-${shot.preview ? shot.preview.made : 0}` : state.version;
    img.src = frameUrl(f, colour ? "color" : "line", 320, bust);
  });
}

function updateStatus(name, st, finished) {
  const chip = $(`status-${name}`);
  if (!chip) return;
  const shot = state.data.shots.find((s) => s.name === name);
  let label = st.state;
  if (st.state === "pending" && shot && shot.keyframes.length === 0) label = "no keyframe";
  else if (st.state === "pending") label = "not rendered";
  else if (st.state === "running") label = `rendering ${st.percent.toFixed(0)}%`;
  else if (st.state === "outdated") label = "changed · render again";
  else if (st.state === "partial") label = "partly rendered";
  chip.textContent = label;
  chip.className = "status chip " + (label === "no keyframe" ? "nokey" : st.state);
  const bar = $(`progress-${name}`);
  bar.querySelector(".fill").style.width = `${st.percent}%`;
  bar.className = "bar small " + (st.state === "done" ? "done" : st.state === "failed" ? "failed" : "");
  bar.title = `${st.frames_done} / ${st.frames_total} frames`;
  $(`eta-${name}`).textContent = st.state === "running" ? fmtEta(st.eta_s) : "";
  const err = $(`error-${name}`);
  err.textContent = st.error || "";
  err.classList.toggle("hidden", !st.error);
  $(`download-${name}`).classList.toggle("disabled", !finished);
  if (shot) { shot.status = st; shot.finished = finished; }
}

function shotCategory(shot) {
  if (shot.keyframes.length === 0) return "nokey";
  const st = shot.status.state;
  return st === "done" ? "done" : st === "failed" ? "failed" : "todo";
}

function applyFilter() {
  if (!state.data) return;
  const text = $("filter").value.trim().toLowerCase();
  const want = $("filter-state").value;
  const counts = { nokey: 0, todo: 0, failed: 0, done: 0 };
  for (const shot of state.data.shots) {
    const cat = shotCategory(shot);
    counts[cat] += 1;
    const node = state.cards[shot.name];
    if (node) node.classList.toggle("hidden", (text && !shot.name.toLowerCase().includes(text)) || (want && want !== cat));
  }
  const parts = [`${state.data.shots.length} shots`];
  if (counts.nokey) parts.push(`${counts.nokey} need a keyframe`);
  if (counts.failed) parts.push(`${counts.failed} failed`);
  parts.push(`${counts.done} done`);
  $("episode-info").textContent = `${parts.join(" · ")} · ${state.data.frame_count} frames · ${
    Math.round(state.data.fps * 1000) / 1000} fps · ${state.data.size[0]}×${state.data.size[1]}`;
}

function render(data) {
  state.data = data;
  state.version = data.version;
  $("manifest-name").textContent = data.name;
  $("manifest-name").title = data.manifest;
  document.documentElement.style.setProperty("--aspect", `${data.size[0]} / ${data.size[1]}`);
  $("banner").classList.toggle("hidden", !data.warnings.length);
  $("banner").textContent = data.warnings.join("\n");
  const main = $("shots");
  const seen = new Set();
  data.shots.forEach((shot, i) => {
    seen.add(shot.name);
    const { status, finished, ...rest } = shot;
    const sig = JSON.stringify([i, rest]);
    let node = state.cards[shot.name];
    if (!node || state.signatures[shot.name] !== sig) {
      const active = node && node.contains(document.activeElement) ? document.activeElement.id : null;
      const fresh = buildCard(shot, i);
      if (node) node.replaceWith(fresh); else main.appendChild(fresh);
      if (active && $(active)) $(active).focus();  // keep the artist's place in the card that was redrawn
      node = fresh;
      state.cards[shot.name] = node;
      state.signatures[shot.name] = sig;
    }
    if (main.children[i] !== node) main.insertBefore(node, main.children[i] || null);
    setThumbs(node, shot);
    updateStatus(shot.name, status, finished);
  });
  for (const name of Object.keys(state.cards)) {
    if (!seen.has(name)) { state.cards[name].remove(); delete state.cards[name]; delete state.signatures[name]; }
  }
  applyFilter();
  $("output-path").textContent = `→ ${data.output_name}`;
  $("output-path").title = `render all writes ${data.output}; work folder ${data.work}`;
  $("download-video").classList.toggle("disabled", !data.output_exists);
  $("download-video").title = data.output_exists ? `download ${data.output}` : "the assembled video (after render all)";
  if (data.job) updateJob(data.job);
}

async function reload() {
  try {
    render(await api("GET", "/api/shots"));
  } catch (e) {
    $("banner").textContent = errorText(e);
    $("banner").classList.remove("hidden");
  }
}

// ---------------------------------------------------------------------------------------------------- actions
function wireDrop(zone, shot, params) {
  const input = zone.querySelector("input[type=file]");
  zone.addEventListener("click", (ev) => { if (ev.target !== input) input.click(); });
  zone.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); input.click(); } });
  input.addEventListener("change", () => { if (input.files.length) upload(zone, shot, input.files[0], params()); input.value = ""; });
  zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    zone.classList.remove("over");
    const file = ev.dataTransfer && ev.dataTransfer.files[0];
    if (file) upload(zone, shot, file, params());
  });
}

async function upload(zone, shot, file, { frame, mode }) {
  const max = state.data ? state.data.max_upload : 20 << 20;
  if (file.size > max) { toast(`${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${max / 1048576} MB`, true); return; }
  const form = new FormData();
  form.append("file", file, file.name);
  if (frame !== "" && frame !== undefined) form.append("frame", frame);
  form.append("mode", mode);
  zone.classList.add("busy");
  try {
    const r = await api("POST", `/api/shots/${encodeURIComponent(shot)}/keyframes`, form);
    toast(`${shot}: keyframe for frame ${r.frame} saved as ${r.image}`);
    await reload();
  } catch (e) {
    toast(`${shot}: ${errorText(e)}`, true);
  } finally {
    zone.classList.remove("busy");
  }
}

async function removeKeyframe(shot, frame) {
  try {
    await api("DELETE", `/api/shots/${encodeURIComponent(shot)}/keyframes/${frame}`);
    toast(`${shot}: keyframe at frame ${frame} removed (its image stays on disk)`);
    await reload();
  } catch (e) { toast(`${shot}: ${errorText(e)}`, true); }
}

async function setOptions(shot, changes) {
  try {
    await api("PATCH", `/api/shots/${encodeURIComponent(shot)}/options`, changes);
    toast(`${shot}: options saved`);
  } catch (e) { toast(`${shot}: ${errorText(e)}`, true); }
  await reload();
}

async function preview(shot, button) {
  button.disabled = true;
  const old = button.textContent;
  button.textContent = "Previewing…";
  try {
    const info = await api("POST", `/api/shots/${encodeURIComponent(shot)}/preview`);
    showPreview(state.cards[shot], info);
    await reload();
  } catch (e) {
    toast(`${shot}: ${errorText(e)}`, true);
  } finally {
    button.disabled = false;
    button.textContent = old;
  }
}

async function startRender(shots) {
  try {
    const job = await api("POST", "/api/render", shots ? { shots } : {});
    toast(shots ? `rendering ${shots.join(", ")}` : "rendering every shot, then the video");
    updateJob(job);
  } catch (e) { toast(errorText(e), true); }
}

function updateJob(job) {
  const prev = state.job;
  state.job = job;
  const fill = $("progress-all-fill");
  const text = $("progress-all-text");
  const bar = $("progress-all");
  if (!job) { text.textContent = "idle"; return; }
  const pct = job.percent ?? 0;
  fill.style.width = `${pct}%`;
  bar.className = "bar " + (job.state === "done" ? "done" : job.state === "failed" ? "failed" : "");
  bar.dataset.percent = pct;
  bar.dataset.state = job.state;
  const what = job.all ? "all shots" : job.shots.join(", ");
  if (job.state === "running") text.textContent = `${pct.toFixed(0)}% · ${job.phase === "running" ? fmtEta(job.eta_s) || "starting" : job.phase}`;
  else if (job.state === "done") text.textContent = `100% · done in ${job.elapsed_s} s`;
  else text.textContent = `failed: ${job.error}`;
  text.title = job.state === "failed" ? `${job.error}\n${(job.problems || []).join("\n")}` : `${what}: ${job.state}`;
  $("render-all").disabled = job.state === "running";
  for (const shot of state.data ? state.data.shots : []) {
    const b = $(`render-${shot.name}`);
    if (b) b.disabled = job.state === "running" || shot.keyframes.length === 0;
  }
  if (prev && prev.id === job.id && prev.state === "running" && job.state !== "running") {
    toast(job.state === "done" ? `render finished: ${what}` : `render failed: ${job.error}\n${(job.problems || []).join("\n")}`,
      job.state !== "done");
    reload();
  }
}

async function poll() {
  try {
    const p = await api("GET", "/api/progress");
    const previewed = state.data && state.data.shots.some((s) => p.shots[s.name] &&
      p.shots[s.name].preview_mtime !== s.preview_mtime);  // a preview made in another tab
    if (p.version !== state.version || previewed) await reload();
    else {
      for (const [name, st] of Object.entries(p.shots)) updateStatus(name, st, st.finished);
      if (state.view === "color") {
        for (const shot of state.data.shots) {
          const node = state.cards[shot.name];
          const key = `${shot.status.updated}`;
          if (node && node.dataset.colourKey !== key) { node.dataset.colourKey = key; setThumbs(node, shot); }
        }
      }
    }
    applyFilter();
    updateJob(p.job);
    if (p.job && p.job.state === "done" && p.job.all) $("download-video").classList.remove("disabled");
  } catch (e) { /* server restarting: keep polling */ }
  setTimeout(poll, state.job && state.job.state === "running" ? 700 : 1500);
}

function setView(view) {
  state.view = view;
  $("view-line").classList.toggle("active", view === "line");
  $("view-color").classList.toggle("active", view === "color");
  document.body.dataset.view = view;
  if (state.data) for (const shot of state.data.shots) if (state.cards[shot.name]) setThumbs(state.cards[shot.name], shot);
}

document.addEventListener("DOMContentLoaded", () => {
  $("render-all").onclick = () => startRender(null);
  $("view-line").onclick = () => setView("line");
  $("view-color").onclick = () => setView("color");
  $("filter").oninput = applyFilter;
  $("filter-state").onchange = applyFilter;
  document.addEventListener("keydown", (ev) => {
    if (ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT") return;
    if (ev.key === "l" || ev.key === "L") setView("line");
    if (ev.key === "c" || ev.key === "C") setView("color");
    if (ev.key === "/") { ev.preventDefault(); $("filter").focus(); }
  });
  // a file dropped outside a drop zone must not navigate away from the page
  window.addEventListener("dragover", (ev) => ev.preventDefault());
  window.addEventListener("drop", (ev) => ev.preventDefault());
  document.body.dataset.view = "line";
  reload().then(poll);
});
