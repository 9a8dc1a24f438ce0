// bgbye website: plain JavaScript, talks to the server's own /v1 API only.
// The server cuts each image out once per engine (an RGBA PNG); background, crop, mask-only,
// format and touch-ups are applied in the browser (compose.js), so they change at once.
"use strict";

(function () {
  const CONCURRENCY = 2; // the server queues the rest; more only adds latency per image
  const MAX_RETRIES = 6; // on 503 (server busy), honouring Retry-After
  const STATUS_EVERY_MS = 5000; // the status pill rechecks the server this often
  const JOB_POLL_MS = 1000;
  const KEY_STORAGE = "bgbye.apiKey";
  const REMEMBER_STORAGE = "bgbye.remember";
  const IMAGE_EXT = /\.(jpe?g|png|webp|bmp|tiff?|gif)$/i;
  const ZIP_EXT = /\.zip$/i;
  const ACCEPTED = "JPEG, PNG, WebP, BMP, TIFF or GIF images, folders of them, or a .zip";
  const C = window.bgbyeCompose;
  const store = window.bgbyeStore;

  const $ = (id) => document.getElementById(id);
  const els = Object.fromEntries([
    "status", "announcer", "dropzone", "file-input", "folder-input", "choose-folder", "notices", "viewer", "viewer-name", "viewer-meta",
    "viewer-mocked", "viewer-download", "copy", "viewer-busy", "viewer-busy-text", "viewer-error",
    "viewer-nopreview", "frame", "stage", "stage-bg", "after-canvas", "before-layer", "before-img",
    "before-canvas", "crop-box", "compare-range", "brush-cursor", "label-before", "label-after",
    "brush-size", "brush-size-out", "undo", "redo", "zoom-in", "zoom-out", "zoom-fit", "zoom-1",
    "zoom-level", "version", "compare-with", "side-by-side", "queue", "queue-list", "queue-count", "queue-summary",
    "total-bar", "queue-errors", "zip-all", "clear-all", "rerun-all", "item-template", "settings", "settings-box",
    "settings-summary", "model", "model-hint", "provider", "provider-hint", "local-options",
    "provider-options", "color-options", "image-options", "bg-color", "bg-file", "bg-file-hint",
    "bg-hint", "bg-group", "format", "format-hint", "crop", "margin-field", "margin", "mask-only",
    "remember", "forget", "key-group", "api-key", "refine",
  ].map((id) => [id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), $(id)]));

  const items = [];
  let selectedId = null;
  let counter = 0;
  let active = 0;
  let providers = [];
  let bgImage = null; // {bitmap, url, name}
  let pendingSaves = 0;
  let serverUp = null;

  // ---------------------------------------------------------------- helpers
  const newId = () => `${Date.now().toString(36)}-${(counter++).toString(36)}`;

  function apiHeaders() {
    const key = els.apiKey.value.trim();
    return key ? { "X-API-Key": key } : {};
  }

  let lastAnnounced = "";
  function announce(text) {
    // Re-announcing the same words needs a change of content; never twice for one event.
    els.announcer.textContent = text === lastAnnounced ? `${text}\u00a0` : text;
    lastAnnounced = text;
  }

  function notice(text, kind = "error") {
    const li = document.createElement("li");
    li.className = `notice notice-${kind}`;
    const span = document.createElement("span");
    span.textContent = text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "icon-btn";
    close.textContent = "×";
    close.setAttribute("aria-label", `Dismiss: ${text}`);
    close.addEventListener("click", () => { li.remove(); els.dropzone.focus(); });
    li.append(span, close);
    els.notices.append(li);
    while (els.notices.children.length > 6) els.notices.firstElementChild.remove();
    announce(text);
  }

  function needKey(message) {
    // Shown and announced, but focus stays where the user is.
    const first = els.keyGroup.hidden;
    els.keyGroup.hidden = false;
    els.settingsBox.open = true;
    const text = message || "This server needs an API key: enter it in the settings.";
    if (first) notice(text, "warn");
    return text;
  }

  const baseOf = (name) => name.split(/[\\/]/).pop() || "image";

  function formatBytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(0) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  async function errorMessage(response, fallback) {
    try {
      const body = JSON.parse(await response.text());
      if (body && body.error && body.error.message) return body.error.message;
    } catch (_) { /* not JSON */ }
    return fallback || `The server answered ${response.status}.`;
  }

  // ---------------------------------------------------------------- settings
  function engineOptions() {
    const engine = els.settings.elements.engine.value;
    const model = engine === "local" ? els.model.value : "";
    const provider = engine === "provider" ? els.provider.value : "";
    const p = providers.find((x) => x.name === provider);
    const refine = els.refine.checked;
    const label = (provider ? (p ? p.label : provider) : (model || "default model")) + (refine ? " · refine" : "");
    const key = `${provider ? `provider:${provider}` : `model:${model}`}${refine ? "+refine" : ""}`;
    return { model, provider, refine, key, label };
  }

  function outputOptions() {
    const bg = els.settings.elements.bg.value;
    return {
      format: els.format.value,
      bg: bg === "color" ? { kind: "color", color: els.bgColor.value }
        : bg === "image" ? { kind: "image", image: bgImage && bgImage.bitmap } : { kind: "none" },
      crop: els.crop.checked,
      margin: els.crop.checked ? Math.max(0, parseInt(els.margin.value, 10) || 0) : 0,
      maskOnly: els.maskOnly.checked,
    };
  }

  // The options that would contradict each other are said, not silently resolved.
  function updateSettingsUI() {
    const engine = els.settings.elements.engine.value;
    const bg = els.settings.elements.bg.value;
    const out = outputOptions();
    els.localOptions.hidden = engine !== "local";
    els.providerOptions.hidden = engine !== "provider";
    els.colorOptions.hidden = bg !== "color";
    els.imageOptions.hidden = bg !== "image";
    els.marginField.hidden = !els.crop.checked;
    els.bgGroup.disabled = out.maskOnly;
    let bgHint = "";
    if (out.maskOnly) bgHint = "Mask only is on: the output is the black-and-white mask, without a background.";
    else if (bg === "image" && !bgImage) bgHint = "Choose an image file for the background.";
    else if (bg === "none" && out.format === "jpg") bgHint = "JPEG cannot be transparent: downloads get a white background.";
    els.bgHint.textContent = bgHint;
    els.bgHint.classList.toggle("warn", Boolean(bgHint));
    const eff = C.effectiveBackground(out);
    els.formatHint.textContent = out.maskOnly ? "A greyscale mask (white = kept)."
      : out.format === "jpg" ? (bg === "none" ? "No transparency: white background." : "No transparency: the background fills it.")
        : eff.kind === "none" ? "Keeps transparency." : "The chosen background fills the transparent parts.";
    const bgText = out.maskOnly ? "mask" : eff.kind === "none" ? "transparent"
      : eff.kind === "color" ? eff.color : "image";
    els.settingsSummary.textContent = `${engineOptions().label} · ${out.format.toUpperCase()} · ${bgText}${out.crop ? " · crop" : ""}`;
  }

  // ---------------------------------------------------------------- server info
  async function loadStatus() {
    let up = false;
    try {
      const r = await fetch("/readyz", { cache: "no-store" });
      const body = await r.json();
      up = true;
      if (r.ok) setStatus("ok", `Ready · ${body.model}`);
      else setStatus("err", "Model not loaded", body.error && body.error.message);
    } catch (_) {
      setStatus("err", "Server unreachable", "The page retries every few seconds.");
    }
    if (up && serverUp === false) loadModels(); // back again: refresh what it offers
    serverUp = up;
  }

  function setStatus(kind, text, title) {
    els.status.className = `pill pill-${kind}`;
    if (els.status.textContent !== text) els.status.textContent = text;
    els.status.title = title || "";
  }

  async function loadModels() {
    let r;
    try {
      r = await fetch("/v1/models", { headers: apiHeaders() });
    } catch (_) {
      return;
    }
    if (r.status === 401) {
      needKey();
      return;
    }
    if (!r.ok) return;
    const body = await r.json();
    const current = els.model.value;
    els.model.textContent = "";
    const sorted = [...body.models].sort((a, b) => (b.default - a.default) || a.name.localeCompare(b.name));
    for (const m of sorted) {
      const opt = document.createElement("option");
      opt.value = m.name;
      opt.textContent = m.name + (m.default ? " (default)" : "") + (m.available ? "" : " · not downloaded");
      opt.disabled = !m.available;
      opt.title = m.description || "";
      opt.dataset.description = m.description || "";
      els.model.append(opt);
    }
    if (current && [...els.model.options].some((o) => o.value === current && !o.disabled)) els.model.value = current;
    else els.model.value = body.default;
    updateModelHint();
    providers = body.providers || [];
    for (const opt of els.provider.options) {
      const p = providers.find((x) => x.name === opt.value);
      if (p) opt.textContent = p.label + (p.configured ? "" : " · no key: preview");
    }
    updateProviderHint();
    updateSettingsUI();
  }

  function updateModelHint() {
    const opt = els.model.selectedOptions[0];
    const desc = opt && opt.dataset.description;
    const sentence = desc ? desc.replace(/\.?\s*$/, ". ") : "";
    els.modelHint.textContent = sentence + "Runs on this server; nothing leaves it.";
  }

  function updateProviderHint() {
    const p = providers.find((x) => x.name === els.provider.value);
    if (p && !p.configured) {
      els.providerHint.textContent =
        "No API key for this provider on the server: you get a watermarked local preview, marked as mocked.";
      els.providerHint.classList.add("warn");
    } else {
      els.providerHint.textContent = "Images are sent to the provider with the server's API key.";
      els.providerHint.classList.remove("warn");
    }
  }

  // ---------------------------------------------------------------- intake
  // Files, folders and zips: images run one by one in the editor; a folder or a zip is one
  // batch job on /v1/jobs; anything else is refused with the reason.
  function classify(file) {
    if (ZIP_EXT.test(file.name) || file.type === "application/zip" || file.type === "application/x-zip-compressed") return "zip";
    if (file.type.startsWith("image/") || IMAGE_EXT.test(file.name)) return file.size === 0 ? "empty" : "image";
    return "other";
  }

  function intake(files, folders) {
    const images = [];
    for (const file of files) {
      const kind = classify(file);
      if (kind === "image") images.push(file);
      else if (kind === "zip") startJob(file.name, [file]);
      else if (kind === "empty") notice(`${file.name}: the file is empty.`);
      else notice(`${file.name || "The dropped item"} was not added: it is not an image (${ACCEPTED}).`);
    }
    for (const folder of folders) {
      const usable = folder.files.filter((f) => classify(f) === "image");
      const skipped = folder.files.length - usable.length;
      if (!usable.length) notice(`${folder.name}/: no images in this folder (${ACCEPTED}).`);
      else folderJob(folder.name, usable, skipped);
    }
    if (images.length) addImages(images);
  }

  // A folder travels as one zip (stored, not recompressed), so its tree comes back in the result.
  async function folderJob(name, files, skipped) {
    const entries = [];
    for (const f of files) entries.push({ name: f.relPath, data: new Uint8Array(await f.arrayBuffer()) });
    const zip = new File([window.bgbyeZip.makeZip(entries)], `${name}.zip`, { type: "application/zip" });
    startJob(`${name}/`, [zip], skipped);
  }

  async function readEntry(entry, prefix, out) {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      file.relPath = prefix + file.name; // inside the dropped folder
      out.push(file);
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await readEntry(child, child.isDirectory ? `${prefix}${child.name}/` : prefix, out);
      }
    }
  }

  async function fromDataTransfer(dt) {
    const entries = [...(dt.items || [])].map((i) => (i.kind === "file" && i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
    const files = [];
    const folders = [];
    const plain = [...dt.files];
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry && entry.isDirectory) {
        const found = [];
        await readEntry(entry, "", found);
        folders.push({ name: entry.name, files: found });
      } else if (plain[i]) {
        files.push(plain[i]);
      }
    }
    if (!entries.length) files.push(...plain);
    intake(files, folders);
  }

  // ---------------------------------------------------------------- images
  function newItem(file, id) {
    return {
      id: id || newId(), kind: "image", file, name: file.name || `pasted-${counter}.png`,
      beforeURL: URL.createObjectURL(file), previewable: null, results: [], active: -1,
      compareWith: "original", state: "queued", progress: 0, error: "", run: null, xhr: null, retries: 0,
    };
  }

  function addImages(files) {
    const run = engineOptions();
    let first = null;
    for (const file of files) {
      const item = newItem(file);
      item.run = run;
      items.push(item);
      els.queueList.append(renderItem(item));
      first = first || item;
    }
    els.dropzone.classList.add("compact");
    announce(`${files.length} image${files.length > 1 ? "s" : ""} added.`);
    select(first.id);
    save(first);
    pump();
  }

  function pump() {
    while (active < CONCURRENCY) {
      const next = items.find((i) => i.kind === "image" && i.state === "queued");
      if (!next) break;
      process(next);
    }
    refreshQueue();
  }

  function process(item) {
    active++;
    setItem(item, { state: "uploading", progress: 0, error: "" });
    const run = item.run || engineOptions();
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    xhr.open("POST", "/v1/remove");
    xhr.responseType = "blob";
    for (const [k, v] of Object.entries(apiHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) setItem(item, { progress: Math.round((100 * e.loaded) / e.total) });
    };
    xhr.upload.onload = () => setItem(item, { state: "processing" });
    const finish = () => {
      item.xhr = null;
      active--;
      pump();
    };
    xhr.onload = async () => {
      if (xhr.status === 200) {
        addResult(item, run, xhr.response, {
          engine: xhr.getResponseHeader("X-Bgbye-Engine") || run.label,
          seconds: parseFloat(xhr.getResponseHeader("X-Bgbye-Seconds") || "0"),
          width: parseInt(xhr.getResponseHeader("X-Bgbye-Width") || "0", 10),
          height: parseInt(xhr.getResponseHeader("X-Bgbye-Height") || "0", 10),
          mocked: xhr.getResponseHeader("X-Bgbye-Mocked") === "true",
        });
      } else if (xhr.status === 503 && item.retries < MAX_RETRIES && xhr.getResponseHeader("Retry-After")) {
        item.retries++;
        const wait = Math.min(30, parseInt(xhr.getResponseHeader("Retry-After"), 10) || 1);
        setItem(item, { state: "waiting", error: "" });
        setTimeout(() => { if (item.state === "waiting") setItem(item, { state: "queued" }); pump(); }, wait * 1000);
      } else {
        let message = await errorMessage(new Response(xhr.response, { status: xhr.status }));
        if (xhr.status === 401) message = needKey(message);
        failItem(item, message);
      }
      finish();
    };
    xhr.onerror = () => {
      failItem(item, "Network error: is the server running?");
      loadStatus();
      finish();
    };
    xhr.onabort = finish;
    const data = new FormData();
    data.append("image", item.file, baseOf(item.name));
    if (run.model) data.append("model", run.model);
    if (run.provider) data.append("provider", run.provider);
    data.append("refine", String(Boolean(run.refine)));
    data.append("format", "png"); // the master: everything else is composed from it here
    xhr.send(data);
  }

  function failItem(item, message) {
    setItem(item, { state: item.results.length ? "done" : "error", error: message });
    announce(`${item.name} failed: ${message}`);
  }

  function addResult(item, run, blob, meta) {
    let index = item.results.findIndex((r) => r.key === run.key && !r.edited);
    const result = { key: run.key, label: run.label, run, blob, meta, pixels: null, edited: false,
      savedAlpha: null, history: { undo: [], redo: [] }, downloaded: false };
    if (index >= 0) item.results[index] = result;
    else {
      const same = item.results.filter((r) => r.key === run.key).length;
      if (same) result.label = `${run.label} (${same + 1})`;
      item.results.push(result);
      index = item.results.length - 1;
    }
    item.active = index;
    setItem(item, { state: "done", error: "" });
    announce(`${item.name} done.`);
    save(item);
  }

  function retry(item) {
    if (item.xhr || item.kind !== "image") return;
    item.retries = 0;
    item.run = engineOptions();
    setItem(item, { state: "queued", error: "" });
    pump();
  }

  function removeItem(item, { focusNext = true } = {}) {
    if (item.xhr) item.xhr.abort();
    if (item.timer) clearTimeout(item.timer);
    if (item.beforeURL) URL.revokeObjectURL(item.beforeURL);
    const index = items.indexOf(item);
    items.splice(index, 1);
    item.el.remove();
    forget(item);
    const next = items[Math.min(index, items.length - 1)];
    if (selectedId === item.id) select(next ? next.id : null);
    refreshQueue();
    if (focusNext) (next ? next.el.querySelector(".item-main") : els.dropzone).focus();
    announce(`${item.name} removed.`);
  }

  // ---------------------------------------------------------------- batch jobs (zips, folders)
  async function startJob(name, files, skipped = 0) {
    const job = { id: newId(), kind: "job", name, files, state: "uploading", counts: null, errors: [],
      jobId: null, error: "", progress: 0 };
    items.push(job);
    els.queueList.append(renderItem(job));
    els.dropzone.classList.add("compact");
    if (skipped) notice(`${name}: ${skipped} file${skipped > 1 ? "s" : ""} skipped (not images).`, "warn");
    announce(`${name}: sent as a batch job.`);
    refreshQueue();
    const data = new FormData();
    for (const f of files) data.append("images", f, f.name);
    const eng = engineOptions();
    const out = outputOptions();
    if (eng.model) data.append("model", eng.model);
    if (eng.provider) data.append("provider", eng.provider);
    data.append("format", out.format);
    data.append("mask_only", String(out.maskOnly));
    data.append("crop", String(out.crop));
    data.append("margin", String(out.margin));
    data.append("refine", String(eng.refine));
    const bg = C.effectiveBackground(out);
    if (bg.kind === "color") data.append("bg_color", bg.color);
    if (bg.kind === "image" && bgImage) data.append("bg_image", bgImage.file, bgImage.file.name);
    let r;
    try {
      r = await fetch("/v1/jobs", { method: "POST", body: data, headers: apiHeaders() });
    } catch (_) {
      setItem(job, { state: "error", error: "Network error: is the server running?" });
      return;
    }
    if (r.status !== 202) {
      let message = await errorMessage(r);
      if (r.status === 401) message = needKey(message);
      setItem(job, { state: "error", error: message });
      announce(`${name} failed: ${message}`);
      return;
    }
    const body = await r.json();
    setItem(job, { jobId: body.id, state: "queued" });
    pollJob(job);
  }

  async function pollJob(job) {
    if (!items.includes(job)) return;
    let body = null;
    try {
      const r = await fetch(`/v1/jobs/${job.jobId}`, { headers: apiHeaders(), cache: "no-store" });
      if (r.ok) body = await r.json();
    } catch (_) { /* the server may be restarting: keep polling */ }
    if (body) {
      const finished = body.state === "done" || body.state === "failed" || body.state === "expired";
      setItem(job, { state: finished ? (body.state === "done" ? "done" : "error") : "processing",
        counts: body.counts, errors: body.errors || [], error: body.reason || "" });
      if (finished) {
        announce(`${job.name}: ${body.counts.done} of ${body.counts.total} done${body.counts.failed ? `, ${body.counts.failed} failed` : ""}.`);
        return;
      }
    }
    job.timer = setTimeout(() => pollJob(job), JOB_POLL_MS);
  }

  async function downloadJob(job) {
    const r = await fetch(`/v1/jobs/${job.jobId}/result`, { headers: apiHeaders() });
    if (!r.ok) {
      notice(`${job.name}: ${await errorMessage(r)}`);
      return;
    }
    saveBlob(await r.blob(), `${job.name.replace(/\/$/, "").replace(/\.zip$/i, "")}-bgbye.zip`);
    job.downloaded = true;
  }

  // ---------------------------------------------------------------- outputs
  function outputName(item, taken, format) {
    const base = baseOf(item.name);
    const stem = els.maskOnly.checked ? `${window.bgbyeNaming.splitName(base)[0]}-mask` : base;
    return window.bgbyeNaming.uniqueName(stem, format || els.format.value, taken || new Set());
  }

  function activeResult(item) {
    return item && item.kind === "image" ? item.results[item.active] || null : null;
  }

  async function ensurePixels(item, result) {
    if (!result.pixels) {
      // Colours from the original (restore brings them back), except for watermarked previews.
      const pixels = await C.pixelsFor(result.blob, item.file, result.meta.mocked);
      if (result.savedAlpha && result.savedAlpha.length === pixels.alpha.length) pixels.alpha.set(result.savedAlpha);
      result.pixels = pixels;
    }
    return result.pixels;
  }

  async function outputBlob(item, result, out) {
    return C.encode(await ensurePixels(item, result), out || outputOptions());
  }

  function saveBlob(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30000);
  }

  async function download(item) {
    const result = activeResult(item);
    if (!result) return;
    try {
      saveBlob(await outputBlob(item, result), outputName(item));
      result.downloaded = true;
    } catch (err) {
      notice(`${item.name}: ${err.message}`);
    }
  }

  async function copyToClipboard(item) {
    const result = activeResult(item);
    if (!result) return;
    const out = { ...outputOptions(), format: "png" }; // clipboards take PNG only
    try {
      const blob = outputBlob(item, result, out);
      await navigator.clipboard.write([new ClipboardItem({ "image/png": blob })]);
      announce(`${item.name}: copied to the clipboard as PNG.`);
    } catch (err) {
      notice(`Could not copy: ${err.message || err}`);
    }
  }

  async function downloadZip() {
    const done = items.filter((i) => activeResult(i));
    if (!done.length) return;
    els.zipAll.disabled = true;
    const used = new Set();
    const files = [];
    try {
      for (const item of done) {
        const blob = await outputBlob(item, activeResult(item));
        files.push({ name: outputName(item, used), data: new Uint8Array(await blob.arrayBuffer()) });
        activeResult(item).downloaded = true;
      }
      saveBlob(window.bgbyeZip.makeZip(files), `bgbye-${files.length}-images.zip`);
    } catch (err) {
      notice(`Download all: ${err.message}`);
    }
    refreshQueue();
  }

  // ---------------------------------------------------------------- strip rendering
  const STATUS_TEXT = {
    queued: () => "Queued",
    uploading: (i) => `Uploading ${i.progress}%`,
    processing: (i) => (i.kind === "job" && i.counts ? `Batch job · ${i.counts.done + i.counts.failed} of ${i.counts.total}` : "Removing background…"),
    waiting: () => "Server busy, retrying shortly…",
    done: (i) => {
      if (i.kind === "job") return `Batch job · ${i.counts.done} of ${i.counts.total} done${i.counts.failed ? ` · ${i.counts.failed} failed` : ""}`;
      const r = activeResult(i);
      return r ? `Done · ${r.meta.width}×${r.meta.height} · ${r.meta.seconds.toFixed(2)} s` : "Done";
    },
    error: (i) => (i.kind === "job" ? "Batch job failed" : "Failed"),
  };

  function renderItem(item) {
    const li = els.itemTemplate.content.firstElementChild.cloneNode(true);
    item.el = li;
    li.dataset.id = item.id;
    li.dataset.kind = item.kind;
    const img = li.querySelector(".thumb img");
    if (item.kind === "image") img.src = item.beforeURL;
    else img.remove();
    if (item.kind === "image") img.addEventListener("error", () => { img.hidden = true; }, { once: true });
    li.querySelector(".item-name").textContent = item.name;
    li.querySelector(".item-name").title = item.name;
    const main = li.querySelector(".item-main");
    main.addEventListener("click", () => select(item.id));
    // Per-file names: a screen-reader user hears which file each button acts on.
    const retryBtn = li.querySelector(".item-retry");
    retryBtn.setAttribute("aria-label", `Retry ${item.name}`);
    retryBtn.title = "Retry";
    retryBtn.addEventListener("click", () => retry(item));
    const dl = li.querySelector(".item-download");
    dl.setAttribute("aria-label", `Download ${item.kind === "job" ? `${item.name} results` : item.name}`);
    dl.title = "Download";
    dl.addEventListener("click", () => (item.kind === "job" ? downloadJob(item) : download(item)));
    const rm = li.querySelector(".item-remove");
    rm.setAttribute("aria-label", `Remove ${item.name} from the list`);
    rm.title = "Remove from list";
    rm.addEventListener("click", () => removeItem(item));
    updateItemEl(item);
    return li;
  }

  function setItem(item, changes) {
    Object.assign(item, changes);
    updateItemEl(item);
    if (item.id === selectedId) renderViewer();
    refreshQueue();
  }

  function updateItemEl(item) {
    const li = item.el;
    if (!li) return;
    li.dataset.state = item.state;
    li.querySelector(".item-status").textContent = STATUS_TEXT[item.state](item);
    let pct = item.state === "uploading" ? item.progress : 0;
    if (item.kind === "job" && item.counts && item.counts.total) pct = (100 * (item.counts.done + item.counts.failed)) / item.counts.total;
    li.querySelector(".progress-bar").style.width = `${pct}%`;
    let error = item.error || "";
    if (item.kind === "job" && item.errors.length) {
      error = item.errors.slice(0, 3).map((e) => `${e.name}: ${e.error.message}`).join("\n") +
        (item.errors.length > 3 ? `\n… and ${item.errors.length - 3} more` : "");
    }
    li.querySelector(".item-error").textContent = error;
    const result = activeResult(item);
    li.querySelector(".item-mocked").hidden = !(result && result.meta.mocked);
    li.querySelector(".item-retry").hidden = !(item.kind === "image" && item.state === "error");
    li.querySelector(".item-download").hidden = !(item.kind === "job" ? item.state === "done" : result);
    if (result) {
      const thumb = li.querySelector(".thumb img");
      if (!thumb.dataset.result || thumb.dataset.result !== result.key + result.label) {
        if (thumb.dataset.url) URL.revokeObjectURL(thumb.dataset.url);
        thumb.dataset.url = URL.createObjectURL(result.blob);
        thumb.dataset.result = result.key + result.label;
        thumb.hidden = false;
        thumb.src = thumb.dataset.url;
      }
    }
    li.classList.toggle("selected", item.id === selectedId);
    li.querySelector(".item-main").setAttribute("aria-current", item.id === selectedId ? "true" : "false");
  }

  function refreshQueue() {
    els.queue.hidden = items.length === 0;
    els.dropzone.classList.toggle("compact", items.length > 0);
    els.queueCount.textContent = String(items.length);
    const done = items.filter((i) => i.state === "done").length;
    const failed = items.filter((i) => i.state === "error").length;
    const working = items.length - done - failed;
    const parts = [`${done} of ${items.length} done`];
    if (failed) parts.push(`${failed} failed`);
    if (working) parts.push(`${working} in progress`);
    els.queueSummary.textContent = parts.join(" · ");
    els.totalBar.style.width = items.length ? `${(100 * (done + failed)) / items.length}%` : "0";
    const ready = items.filter((i) => activeResult(i)).length;
    els.zipAll.disabled = ready === 0;
    els.zipAll.textContent = ready > 1 ? `Download all ${ready} (.zip)` : "Download all (.zip)";
    els.rerunAll.hidden = !items.some((i) => i.kind === "image");
    renderErrors(items.filter((i) => i.state === "error" || (i.kind === "job" && i.errors.length)));
  }

  // The failures stay on screen however long the strip is: one line, each name jumps to it.
  function renderErrors(failed) {
    els.queueErrors.hidden = failed.length === 0;
    const sig = failed.map((i) => `${i.id}:${i.error}:${i.kind === "job" ? i.errors.length : ""}`).join("|");
    if (els.queueErrors.dataset.sig === sig) return;
    els.queueErrors.dataset.sig = sig;
    els.queueErrors.textContent = "Failed: ";
    failed.forEach((item, n) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "linkish-btn";
      const why = item.kind === "job" ? `${item.errors.length || "all"} file(s) failed` : item.error;
      b.textContent = item.kind === "job" && item.errors.length
        ? `${item.name} (${item.errors.length} file${item.errors.length > 1 ? "s" : ""})` : item.name;
      b.title = why;
      b.setAttribute("aria-label", `${item.name}: ${why}. Show it`);
      b.addEventListener("click", () => {
        select(item.id);
        item.el.querySelector(".item-main").focus();
      });
      if (n) els.queueErrors.append(", ");
      els.queueErrors.append(b);
    });
  }

  function select(id) {
    selectedId = id;
    for (const item of items) {
      if (!item.el) continue;
      item.el.classList.toggle("selected", item.id === id);
      item.el.querySelector(".item-main").setAttribute("aria-current", item.id === id ? "true" : "false");
    }
    const item = items.find((i) => i.id === id);
    if (item && item.el) item.el.scrollIntoView({ block: "nearest", inline: "nearest" });
    renderViewer();
  }

  // ---------------------------------------------------------------- viewer
  const editor = window.bgbyeEditor.create(els, {
    onZoom: (z) => { els.zoomLevel.textContent = `${Math.round(z * 100)}%`; },
    onHistory: () => {
      const cur = editor.current;
      els.undo.disabled = !cur || !cur.history.undo.length;
      els.redo.disabled = !cur || !cur.history.redo.length;
    },
    onEdit: () => {
      const item = items.find((i) => i.id === selectedId);
      const result = activeResult(item);
      if (!result) return;
      result.edited = true;
      result.downloaded = false;
      updateCropBox();
      save(item);
    },
  });

  let renderToken = 0;
  async function renderViewer() {
    const token = ++renderToken;
    els.viewer.dataset.shown = "false"; // "true" once the current result is on screen
    const item = items.find((i) => i.id === selectedId);
    els.viewer.hidden = !item || item.kind !== "image";
    if (!item || item.kind !== "image") return;
    els.viewerName.textContent = item.name;
    els.viewerName.title = item.name;
    const result = activeResult(item);
    const busy = ["queued", "uploading", "processing", "waiting"].includes(item.state);
    els.viewerBusy.hidden = !busy;
    els.viewerBusyText.textContent = STATUS_TEXT[item.state](item);
    // Shown, not announced: the announcer said it once already.
    els.viewerError.hidden = !item.error;
    els.viewerError.textContent = item.error ? `Could not process this image: ${item.error}` : "";
    els.viewerMocked.hidden = !(result && result.meta.mocked);
    els.viewerDownload.hidden = !result;
    els.copy.hidden = !result || !window.ClipboardItem;
    els.viewerDownload.setAttribute("aria-label", result ? `Download ${outputName(item)}` : "Download");
    if (result) {
      const m = result.meta;
      els.viewerMeta.textContent = `${m.engine} · ${m.width}×${m.height} · ${formatBytes(result.blob.size)} cut-out · ${m.seconds.toFixed(2)} s`;
    } else {
      els.viewerMeta.textContent = `${formatBytes(item.file.size)} original`;
    }
    renderVersions(item);
    await renderPicture(item, result, token);
  }

  function renderVersions(item) {
    const opts = item.results.map((r, i) => [String(i), r.label + (r.edited ? " · edited" : "")]);
    fillSelect(els.version, opts, String(item.active));
    els.version.disabled = item.results.length < 2;
    const others = [["original", "Original"], ...opts.filter(([i]) => i !== String(item.active))];
    if (item.compareWith !== "original" && !others.some(([v]) => v === item.compareWith)) item.compareWith = "original";
    fillSelect(els.compareWith, others, item.compareWith);
    els.compareWith.disabled = others.length < 2;
  }

  function fillSelect(select, options, value) {
    const same = select.options.length === options.length &&
      options.every(([v, t], i) => select.options[i].value === v && select.options[i].textContent === t);
    if (!same) {
      select.textContent = "";
      for (const [v, t] of options) select.append(new Option(t, v));
    }
    select.value = value;
  }

  async function previewable(item) {
    if (item.previewable === null) {
      const img = new Image();
      img.src = item.beforeURL;
      try {
        await img.decode();
        item.previewable = true;
      } catch (_) {
        item.previewable = false;
      }
    }
    return item.previewable;
  }

  async function renderPicture(item, result, token) {
    const canPreview = await previewable(item);
    if (token !== renderToken) return;
    const ext = (baseOf(item.name).split(".").pop() || "").toUpperCase();
    const noOriginal = !canPreview;
    els.viewerNopreview.hidden = !(noOriginal && !result && item.state !== "error");
    els.viewerNopreview.textContent = `This browser cannot show ${ext ? `a ${ext} file` : "this file"}; the server still processes it and the result shows here.`;
    if (!result) {
      // Never leave the previous image on screen.
      els.stage.hidden = true;
      if (canPreview) {
        els.stage.hidden = false;
        els.beforeImg.src = item.beforeURL;
        const img = els.beforeImg;
        await img.decode().catch(() => {});
        if (token !== renderToken) return;
        editor.show({ pixels: { width: img.naturalWidth, height: img.naturalHeight, alpha: new Uint8Array(0), rgb: new Uint8ClampedArray(0) },
          maskOnly: false, history: { undo: [], redo: [] }, locked: true, noSplit: true, placeholder: true }, false);
        els.afterCanvas.hidden = true;
        els.stage.classList.add("no-result");
        els.beforeImg.hidden = false;
        els.beforeCanvas.hidden = true;
      }
      return;
    }
    let pixels;
    try {
      pixels = await ensurePixels(item, result);
    } catch (err) {
      if (token === renderToken) { els.viewerError.hidden = false; els.viewerError.textContent = err.message; }
      return;
    }
    if (token !== renderToken) return;
    els.stage.hidden = false;
    els.afterCanvas.hidden = false;
    const out = outputOptions();
    const prev = editor.current;
    const keep = prev && !prev.placeholder && prev.itemId === item.id;
    const state = result.editorState || { pixels, history: result.history, itemId: item.id };
    result.editorState = state;
    state.maskOnly = out.maskOnly;
    state.locked = false;
    // A split against the original needs the original; against another version, that one.
    let other = null;
    if (item.compareWith !== "original") {
      other = item.results[parseInt(item.compareWith, 10)];
      if (other) await ensurePixels(item, other);
      if (token !== renderToken) return;
    }
    state.noSplit = !other && noOriginal;
    if (editor.current !== state) editor.show(state, keep); // progress ticks must not redraw
    els.stage.classList.toggle("no-result", state.noSplit);
    if (other) {
      els.beforeImg.hidden = true;
      els.beforeCanvas.hidden = false;
      els.beforeCanvas.width = other.pixels.width;
      els.beforeCanvas.height = other.pixels.height;
      els.beforeCanvas.getContext("2d").putImageData(C.cutoutImageData(other.pixels, out.maskOnly), 0, 0);
      els.labelBefore.textContent = other.label;
      els.labelAfter.textContent = result.label;
    } else {
      els.beforeCanvas.hidden = true;
      els.beforeImg.hidden = noOriginal;
      if (!noOriginal && els.beforeImg.getAttribute("src") !== item.beforeURL) els.beforeImg.src = item.beforeURL;
      els.labelBefore.textContent = "Before";
      els.labelAfter.textContent = "After";
    }
    els.compareRange.setAttribute("aria-label", `Split: left of it shows ${other ? other.label : "the original"}, right of it the result`);
    applyBackground();
    updateCropBox();
    els.viewer.dataset.shown = "true";
  }

  function applyBackground() {
    const out = outputOptions();
    const bg = C.effectiveBackground(out);
    const el = els.stageBg;
    el.classList.toggle("checker", bg.kind === "none" || (bg.kind === "image" && !bgImage));
    el.style.backgroundColor = bg.kind === "color" ? bg.color : "";
    el.style.backgroundImage = bg.kind === "image" && bgImage ? `url("${bgImage.url}")` : "";
    el.classList.toggle("bg-image", bg.kind === "image" && Boolean(bgImage));
    const cur = editor.current;
    if (cur && !cur.placeholder && cur.maskOnly !== out.maskOnly) {
      cur.maskOnly = out.maskOnly;
      editor.redraw();
    }
  }

  function updateCropBox() {
    const cur = editor.current;
    const out = outputOptions();
    els.cropBox.hidden = !(cur && !cur.placeholder && out.crop) || els.sideBySide.getAttribute("aria-pressed") === "true";
    if (els.cropBox.hidden) return;
    const { width, height, alpha } = cur.pixels;
    const b = C.subjectBox(alpha, width, height, out.margin);
    Object.assign(els.cropBox.style, {
      left: `${(100 * b.x) / width}%`, top: `${(100 * b.y) / height}%`,
      width: `${(100 * b.w) / width}%`, height: `${(100 * b.h) / height}%`,
    });
  }

  // ---------------------------------------------------------------- persistence
  function remembering() {
    return els.remember.checked && Boolean(store);
  }

  async function save(item) {
    if (!remembering() || item.kind !== "image") return;
    pendingSaves++;
    try {
      await store.put({
        id: item.id, name: item.name, file: item.file, order: items.indexOf(item), active: item.active,
        results: item.results.map((r) => ({ key: r.key, label: r.label, run: r.run, blob: r.blob, meta: r.meta,
          edited: r.edited, alpha: r.edited && r.pixels ? r.pixels.alpha : r.savedAlpha })),
      });
    } catch (err) {
      notice(`Could not keep ${item.name} in this browser: ${err.message || err}`, "warn");
    } finally {
      pendingSaves--;
    }
  }

  function forget(item) {
    if (store && item.kind === "image") store.remove(item.id).catch(() => {});
  }

  async function restore() {
    if (!remembering()) return;
    let records;
    try {
      records = await store.all();
    } catch (_) {
      return;
    }
    records.sort((a, b) => a.order - b.order);
    for (const rec of records) {
      const item = newItem(rec.file, rec.id);
      item.name = rec.name;
      item.results = rec.results.map((r) => ({ ...r, pixels: null, savedAlpha: r.alpha || null,
        history: { undo: [], redo: [] }, downloaded: true }));
      item.active = Math.min(rec.active, item.results.length - 1);
      item.state = item.results.length ? "done" : "queued";
      item.run = engineOptions();
      items.push(item);
      els.queueList.append(renderItem(item));
    }
    if (records.length) {
      announce(`${records.length} image${records.length > 1 ? "s" : ""} restored from this browser.`);
      select(items[0].id);
      pump();
    }
  }

  function unsaved() {
    const busy = items.some((i) => ["queued", "uploading", "processing", "waiting"].includes(i.state));
    const lost = items.some((i) => (i.kind === "job" ? i.state === "done" && !i.downloaded
      : !remembering() && i.results.some((r) => !r.downloaded)));
    return busy || lost || pendingSaves > 0;
  }

  // ---------------------------------------------------------------- events
  els.dropzone.addEventListener("click", () => els.fileInput.click());
  els.dropzone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      els.fileInput.click();
    }
  });
  els.chooseFolder.addEventListener("click", () => els.folderInput.click());
  els.folderInput.addEventListener("change", () => {
    // webkitRelativePath is "top/sub/name.png": one job per top folder, paths inside it kept.
    const byTop = new Map();
    for (const f of els.folderInput.files) {
      const parts = (f.webkitRelativePath || f.name).split("/");
      const top = parts.length > 1 ? parts.shift() : "folder";
      f.relPath = parts.join("/");
      if (!byTop.has(top)) byTop.set(top, []);
      byTop.get(top).push(f);
    }
    intake([], [...byTop].map(([name, files]) => ({ name, files })));
    els.folderInput.value = "";
  });
  els.fileInput.addEventListener("change", () => {
    intake([...els.fileInput.files], []);
    els.fileInput.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    document.addEventListener(type, (e) => {
      if (e.dataTransfer && [...e.dataTransfer.types].includes("Files")) {
        e.preventDefault();
        els.dropzone.classList.add("dragging");
      }
    });
  }
  document.addEventListener("dragleave", (e) => {
    if (!e.relatedTarget) els.dropzone.classList.remove("dragging");
  });
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    els.dropzone.classList.remove("dragging");
    if (e.dataTransfer) fromDataTransfer(e.dataTransfer);
  });
  document.addEventListener("paste", (e) => {
    if (e.clipboardData && e.clipboardData.files.length) intake([...e.clipboardData.files], []);
  });

  els.queueList.addEventListener("keydown", (e) => {
    const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[e.key];
    if (!step || !e.target.classList.contains("item-main")) return;
    const index = items.findIndex((i) => i.id === selectedId);
    const next = items[index + step];
    if (next) {
      e.preventDefault();
      select(next.id);
      next.el.querySelector(".item-main").focus();
    }
  });

  els.viewerDownload.addEventListener("click", () => download(items.find((i) => i.id === selectedId)));
  els.copy.addEventListener("click", () => copyToClipboard(items.find((i) => i.id === selectedId)));
  els.zipAll.addEventListener("click", downloadZip);
  els.clearAll.addEventListener("click", () => {
    for (const item of [...items]) removeItem(item, { focusNext: false });
    els.dropzone.focus();
    announce("List cleared.");
  });
  els.rerunAll.addEventListener("click", () => {
    for (const item of items) if (item.kind === "image" && !item.xhr && item.state !== "queued") retry(item);
    announce(`Re-running with ${engineOptions().label}; earlier results are kept.`);
  });

  for (const tool of document.querySelectorAll("input[name='tool']")) {
    tool.addEventListener("change", () => editor.setTool(tool.value));
  }
  els.brushSize.addEventListener("input", () => {
    els.brushSizeOut.textContent = els.brushSize.value;
    editor.setBrushSize(parseInt(els.brushSize.value, 10));
  });
  els.undo.addEventListener("click", () => editor.undo());
  els.redo.addEventListener("click", () => editor.redo());
  els.zoomIn.addEventListener("click", () => editor.zoomIn());
  els.zoomOut.addEventListener("click", () => editor.zoomOut());
  els.zoomFit.addEventListener("click", () => editor.fit());
  els.zoom1.addEventListener("click", () => editor.actual());
  els.version.addEventListener("change", () => {
    const item = items.find((i) => i.id === selectedId);
    if (!item) return;
    item.active = parseInt(els.version.value, 10);
    updateItemEl(item);
    save(item);
    renderViewer();
  });
  els.sideBySide.addEventListener("click", () => {
    const on = els.sideBySide.getAttribute("aria-pressed") !== "true";
    els.sideBySide.setAttribute("aria-pressed", String(on));
    editor.setSide(on);
    updateCropBox();
  });
  els.compareWith.addEventListener("change", () => {
    const item = items.find((i) => i.id === selectedId);
    if (!item) return;
    item.compareWith = els.compareWith.value;
    renderViewer();
  });
  document.addEventListener("keydown", (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.key.toLowerCase() !== "z" && e.key.toLowerCase() !== "y") return;
    if (e.target.closest("input, select, textarea") || els.viewer.hidden) return;
    e.preventDefault();
    if (e.key.toLowerCase() === "y" || e.shiftKey) editor.redo();
    else editor.undo();
  });

  els.settings.addEventListener("submit", (e) => e.preventDefault());
  els.settings.addEventListener("change", (e) => {
    if (e.target === els.model) updateModelHint();
    if (e.target === els.provider) updateProviderHint();
    if (e.target === els.apiKey) {
      localStorage.setItem(KEY_STORAGE, els.apiKey.value.trim());
      loadModels();
    }
    if (e.target === els.remember) {
      localStorage.setItem(REMEMBER_STORAGE, els.remember.checked ? "1" : "0");
      if (!els.remember.checked && store) store.clear().catch(() => {});
      else for (const item of items) save(item);
    }
    if (e.target === els.bgColor) markSwatch(els.bgColor.value);
    updateSettingsUI();
    applyBackground();
    updateCropBox();
    for (const item of items) updateItemEl(item);
  });
  els.margin.addEventListener("input", updateCropBox);
  els.bgFile.addEventListener("change", async () => {
    const file = els.bgFile.files[0];
    if (!file) return;
    try {
      const bitmap = await createImageBitmap(file);
      if (bgImage) URL.revokeObjectURL(bgImage.url);
      bgImage = { bitmap, url: URL.createObjectURL(file), file };
      els.bgFileHint.textContent = `${file.name}: scaled to cover the picture, centred.`;
    } catch (_) {
      notice(`${file.name}: this browser cannot read it as an image.`);
    }
    updateSettingsUI();
    applyBackground();
  });
  function markSwatch(color) {
    for (const s of document.querySelectorAll(".swatch")) s.setAttribute("aria-pressed", String(s.dataset.color === color.toLowerCase()));
  }
  for (const swatch of document.querySelectorAll(".swatch")) {
    swatch.addEventListener("click", () => {
      els.bgColor.value = swatch.dataset.color;
      markSwatch(swatch.dataset.color);
      updateSettingsUI();
      applyBackground();
    });
  }
  els.forget.addEventListener("click", async () => {
    if (store) await store.clear().catch(() => {});
    announce("Stored results forgotten; the list stays until you reload or clear it.");
  });
  window.addEventListener("beforeunload", (e) => {
    if (unsaved()) {
      e.preventDefault();
      e.returnValue = "";
    }
  });
  window.addEventListener("online", loadStatus);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) loadStatus(); });

  // ---------------------------------------------------------------- start
  els.apiKey.value = localStorage.getItem(KEY_STORAGE) || "";
  if (els.apiKey.value) els.keyGroup.hidden = false;
  els.remember.checked = localStorage.getItem(REMEMBER_STORAGE) !== "0";
  // On a phone the settings come first but folded, so the picture stays on the first screen.
  if (window.matchMedia("(max-width: 900px)").matches) els.settingsBox.open = false;
  updateSettingsUI();
  loadStatus();
  setInterval(loadStatus, STATUS_EVERY_MS);
  loadModels();
  restore();
  window.bgbyeApp = { items, outputOptions, editor }; // for tests and the console
})();
