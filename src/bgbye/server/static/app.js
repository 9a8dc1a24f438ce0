// bgbye website: plain JavaScript, talks to the server's own /v1 API only.
"use strict";

(function () {
  const CONCURRENCY = 2; // the server queues the rest; more only adds latency per image
  const MAX_RETRIES = 6; // on 503 (server busy), honouring Retry-After
  const KEY_STORAGE = "bgbye.apiKey";
  const IMAGE_EXT = /\.(jpe?g|png|webp|bmp|tiff?|gif)$/i;

  const $ = (id) => document.getElementById(id);
  const els = {
    status: $("status"),
    dropzone: $("dropzone"),
    fileInput: $("file-input"),
    viewer: $("viewer"),
    viewerName: $("viewer-name"),
    viewerMeta: $("viewer-meta"),
    viewerMocked: $("viewer-mocked"),
    viewerDownload: $("viewer-download"),
    viewerBusy: $("viewer-busy"),
    viewerBusyText: $("viewer-busy-text"),
    viewerError: $("viewer-error"),
    compare: $("compare"),
    range: $("compare-range"),
    before: $("before-img"),
    after: $("after-img"),
    queue: $("queue"),
    queueList: $("queue-list"),
    queueCount: $("queue-count"),
    queueSummary: $("queue-summary"),
    zipAll: $("zip-all"),
    clearAll: $("clear-all"),
    rerunAll: $("rerun-all"),
    template: $("item-template"),
    form: $("settings"),
    model: $("model"),
    modelHint: $("model-hint"),
    provider: $("provider"),
    providerHint: $("provider-hint"),
    localOptions: $("local-options"),
    providerOptions: $("provider-options"),
    colorOptions: $("color-options"),
    bgColor: $("bg-color"),
    format: $("format"),
    crop: $("crop"),
    marginField: $("margin-field"),
    margin: $("margin"),
    maskOnly: $("mask-only"),
    refine: $("refine"),
    keyGroup: $("key-group"),
    apiKey: $("api-key"),
  };

  const items = [];
  let selectedId = null;
  let nextId = 1;
  let active = 0;
  let providers = [];

  // ---------------------------------------------------------------- helpers
  function apiHeaders() {
    const key = els.apiKey.value.trim();
    return key ? { "X-API-Key": key } : {};
  }

  function needKey(message) {
    els.keyGroup.hidden = false;
    els.apiKey.focus();
    return message || "This server needs an API key: enter it in the settings.";
  }

  function baseOf(name) {
    return name.split(/[\\/]/).pop() || "image";
  }

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

  function currentOptions() {
    const engine = els.form.elements.engine.value;
    const bg = els.form.elements.bg.value;
    return {
      engine,
      model: engine === "local" ? els.model.value : "",
      provider: engine === "provider" ? els.provider.value : "",
      format: els.format.value,
      bg_color: bg === "color" && !els.maskOnly.checked ? els.bgColor.value : "",
      crop: els.crop.checked,
      margin: els.crop.checked ? Math.max(0, parseInt(els.margin.value, 10) || 0) : 0,
      mask_only: els.maskOnly.checked,
      refine: els.refine.checked,
    };
  }

  function formData(item) {
    const o = item.options;
    const data = new FormData();
    data.append("image", item.file, item.name);
    if (o.model) data.append("model", o.model);
    if (o.provider) data.append("provider", o.provider);
    data.append("format", o.format);
    if (o.bg_color) data.append("bg_color", o.bg_color);
    data.append("crop", String(o.crop));
    data.append("margin", String(o.margin));
    data.append("mask_only", String(o.mask_only));
    data.append("refine", String(o.refine));
    return data;
  }

  // ---------------------------------------------------------------- server info
  async function loadStatus() {
    try {
      const r = await fetch("/readyz");
      const body = await r.json();
      if (r.ok) {
        setStatus("ok", `Ready · ${body.model}`);
      } else {
        setStatus("err", "Model not loaded", body.error && body.error.message);
      }
    } catch (_) {
      setStatus("err", "Server unreachable");
    }
  }

  function setStatus(kind, text, title) {
    els.status.className = `pill pill-${kind}`;
    els.status.textContent = text;
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
    if (current && [...els.model.options].some((o) => o.value === current && !o.disabled)) {
      els.model.value = current;
    } else {
      els.model.value = body.default;
    }
    updateModelHint();
    providers = body.providers || [];
    for (const opt of els.provider.options) {
      const p = providers.find((x) => x.name === opt.value);
      if (p) opt.textContent = p.label + (p.configured ? "" : " · no key: preview");
    }
    updateProviderHint();
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

  // ---------------------------------------------------------------- queue
  function addFiles(fileList) {
    const files = [...fileList].filter((f) => f.type.startsWith("image/") || IMAGE_EXT.test(f.name));
    if (!files.length) return;
    const options = currentOptions();
    let first = null;
    for (const file of files) {
      const item = {
        id: nextId++,
        file,
        name: file.name || `pasted-${nextId}.png`,
        beforeURL: URL.createObjectURL(file),
        afterURL: null,
        blob: null,
        state: "queued",
        progress: 0,
        error: "",
        mocked: false,
        meta: null,
        options,
        xhr: null,
        retries: 0,
      };
      items.push(item);
      els.queueList.append(renderItem(item));
      first = first || item;
    }
    els.dropzone.classList.add("compact");
    select(first.id);
    refreshQueue();
    pump();
  }

  function pump() {
    while (active < CONCURRENCY) {
      const next = items.find((i) => i.state === "queued");
      if (!next) break;
      process(next);
    }
    refreshQueue();
  }

  function process(item) {
    active++;
    setItem(item, { state: "uploading", progress: 0, error: "" });
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
        const blob = xhr.response;
        if (item.afterURL) URL.revokeObjectURL(item.afterURL);
        setItem(item, {
          state: "done",
          blob,
          afterURL: URL.createObjectURL(blob),
          mocked: xhr.getResponseHeader("X-Bgbye-Mocked") === "true",
          meta: {
            engine: xhr.getResponseHeader("X-Bgbye-Engine") || "",
            seconds: parseFloat(xhr.getResponseHeader("X-Bgbye-Seconds") || "0"),
            width: parseInt(xhr.getResponseHeader("X-Bgbye-Width") || "0", 10),
            height: parseInt(xhr.getResponseHeader("X-Bgbye-Height") || "0", 10),
            size: blob.size,
            type: blob.type,
          },
        });
      } else if (xhr.status === 503 && item.retries < MAX_RETRIES &&
                 xhr.getResponseHeader("Retry-After")) {
        item.retries++;
        const wait = Math.min(30, parseInt(xhr.getResponseHeader("Retry-After"), 10) || 1);
        setItem(item, { state: "waiting", error: "" });
        setTimeout(() => { if (item.state === "waiting") setItem(item, { state: "queued" }); pump(); }, wait * 1000);
      } else {
        let message = await errorMessage(new Response(xhr.response, { status: xhr.status }));
        if (xhr.status === 401) message = needKey(message);
        setItem(item, { state: "error", error: message });
      }
      finish();
    };
    xhr.onerror = () => {
      setItem(item, { state: "error", error: "Network error: is the server running?" });
      finish();
    };
    xhr.onabort = finish;
    xhr.send(formData(item));
  }

  function retry(item) {
    if (item.xhr) return;
    item.retries = 0;
    item.options = currentOptions();
    setItem(item, { state: "queued", error: "" });
    pump();
  }

  function removeItem(item) {
    if (item.xhr) item.xhr.abort();
    URL.revokeObjectURL(item.beforeURL);
    if (item.afterURL) URL.revokeObjectURL(item.afterURL);
    const index = items.indexOf(item);
    items.splice(index, 1);
    item.el.remove();
    if (selectedId === item.id) {
      const next = items[Math.min(index, items.length - 1)];
      select(next ? next.id : null);
    }
    refreshQueue();
  }

  // ---------------------------------------------------------------- rendering
  const STATUS_TEXT = {
    queued: () => "Queued",
    uploading: (i) => `Uploading ${i.progress}%`,
    processing: () => "Removing background…",
    waiting: () => "Server busy, retrying shortly…",
    done: (i) => `Done · ${i.meta.width}×${i.meta.height} · ${formatBytes(i.meta.size)} · ${i.meta.seconds.toFixed(2)} s`,
    error: () => "Failed",
  };

  function outputExt(item) {
    return { "image/png": "png", "image/webp": "webp", "image/jpeg": "jpg" }[item.meta && item.meta.type] || "png";
  }

  // One file's download name: the shared naming rule (naming.js) with nothing else taken.
  function outputName(item, taken) {
    const base = baseOf(item.name);
    const stem = item.options.mask_only ? `${window.bgbyeNaming.splitName(base)[0]}-mask` : base;
    return window.bgbyeNaming.uniqueName(stem, outputExt(item), taken || new Set());
  }

  function renderItem(item) {
    const li = els.template.content.firstElementChild.cloneNode(true);
    item.el = li;
    li.dataset.id = String(item.id);
    li.querySelector(".thumb img").src = item.beforeURL;
    li.querySelector(".item-name").textContent = item.name;
    li.querySelector(".item-name").title = item.name;
    li.querySelector(".item-main").setAttribute("aria-label", `Show ${item.name}`);
    li.querySelector(".item-main").addEventListener("click", () => select(item.id));
    li.querySelector(".item-retry").addEventListener("click", () => retry(item));
    li.querySelector(".item-remove").addEventListener("click", () => removeItem(item));
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
    li.querySelector(".progress-bar").style.width = `${item.state === "uploading" ? item.progress : 0}%`;
    li.querySelector(".item-error").textContent = item.error || "";
    li.querySelector(".item-mocked").hidden = !item.mocked;
    li.querySelector(".item-retry").hidden = item.state !== "error";
    const dl = li.querySelector(".item-download");
    dl.hidden = item.state !== "done";
    if (item.state === "done") {
      dl.href = item.afterURL;
      dl.download = outputName(item);
      li.querySelector(".thumb img").src = item.afterURL;
    }
    li.classList.toggle("selected", item.id === selectedId);
  }

  function refreshQueue() {
    els.queue.hidden = items.length === 0;
    els.queueCount.textContent = String(items.length);
    const done = items.filter((i) => i.state === "done").length;
    const failed = items.filter((i) => i.state === "error").length;
    const working = items.length - done - failed;
    const parts = [`${done} of ${items.length} done`];
    if (failed) parts.push(`${failed} failed`);
    if (working) parts.push(`${working} in progress`);
    els.queueSummary.textContent = parts.join(" · ");
    els.zipAll.disabled = done === 0;
    els.zipAll.textContent = done > 1 ? `Download all ${done} (.zip)` : "Download all (.zip)";
    els.rerunAll.hidden = items.length === 0;
  }

  function select(id) {
    selectedId = id;
    for (const item of items) item.el && item.el.classList.toggle("selected", item.id === id);
    renderViewer();
  }

  function renderViewer() {
    const item = items.find((i) => i.id === selectedId);
    els.viewer.hidden = !item;
    if (!item) return;
    els.viewerName.textContent = item.name;
    els.viewerName.title = item.name;
    if (els.before.getAttribute("src") !== item.beforeURL) {
      els.before.src = item.beforeURL;
    }
    const done = item.state === "done";
    // A crop changes the frame, so a side-by-side wipe would not line up: show the result alone.
    const cropped = done && item.options.crop;
    if (done) {
      if (els.after.getAttribute("src") !== item.afterURL) els.after.src = item.afterURL;
      els.after.hidden = false;
    } else {
      els.after.removeAttribute("src");
      els.after.hidden = true;
    }
    els.before.hidden = cropped;
    els.compare.classList.toggle("no-result", !done || cropped);
    els.viewerBusy.hidden = !["queued", "uploading", "processing", "waiting"].includes(item.state);
    els.viewerBusyText.textContent = STATUS_TEXT[item.state](item);
    els.viewerError.hidden = item.state !== "error";
    els.viewerError.textContent = item.error ? `Could not process this image: ${item.error}` : "";
    els.viewerMocked.hidden = !item.mocked;
    els.viewerDownload.hidden = !done;
    if (done) {
      els.viewerDownload.href = item.afterURL;
      els.viewerDownload.download = outputName(item);
      const m = item.meta;
      els.viewerMeta.textContent = `${m.engine} · ${m.width}×${m.height} · ${formatBytes(m.size)} · ${m.seconds.toFixed(2)} s`;
    } else {
      els.viewerMeta.textContent = `${formatBytes(item.file.size)} original`;
    }
    const ratioSource = cropped ? els.after : els.before;
    setRatio(ratioSource);
  }

  function setRatio(img) {
    const apply = () => {
      if (img.naturalWidth && img.naturalHeight) {
        const stage = els.compare.querySelector(".compare-stage");
        stage.style.setProperty("--ratio", `${img.naturalWidth} / ${img.naturalHeight}`);
        stage.style.setProperty("--ar", String(img.naturalWidth / img.naturalHeight));
      }
    };
    if (img.complete) apply();
    else img.addEventListener("load", apply, { once: true });
  }

  // ---------------------------------------------------------------- zip
  async function downloadZip() {
    const done = items.filter((i) => i.state === "done");
    if (!done.length) return;
    els.zipAll.disabled = true;
    const used = new Set();
    const files = [];
    for (const item of done) {
      const name = outputName(item, used);
      files.push({ name, data: new Uint8Array(await item.blob.arrayBuffer()) });
    }
    const url = URL.createObjectURL(window.bgbyeZip.makeZip(files));
    const a = document.createElement("a");
    a.href = url;
    a.download = `bgbye-${files.length}-images.zip`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    refreshQueue();
  }

  // ---------------------------------------------------------------- events
  function openPicker() {
    els.fileInput.click();
  }

  els.dropzone.addEventListener("click", openPicker);
  els.dropzone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      openPicker();
    }
  });
  els.fileInput.addEventListener("change", () => {
    addFiles(els.fileInput.files);
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
    if (e.dataTransfer) addFiles(e.dataTransfer.files);
  });
  document.addEventListener("paste", (e) => {
    if (e.clipboardData && e.clipboardData.files.length) addFiles(e.clipboardData.files);
  });

  els.range.addEventListener("input", () => {
    els.compare.style.setProperty("--pos", `${els.range.value}%`);
  });

  els.queueList.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const index = items.findIndex((i) => i.id === selectedId);
    const next = items[index + (e.key === "ArrowDown" ? 1 : -1)];
    if (next) {
      e.preventDefault();
      select(next.id);
      next.el.querySelector(".item-main").focus();
    }
  });

  els.zipAll.addEventListener("click", downloadZip);
  els.clearAll.addEventListener("click", () => { for (const item of [...items]) removeItem(item); });
  els.rerunAll.addEventListener("click", () => { for (const item of items) if (item.state !== "uploading" && item.state !== "processing") retry(item); });

  els.form.addEventListener("submit", (e) => e.preventDefault());
  els.form.addEventListener("change", (e) => {
    const engine = els.form.elements.engine.value;
    els.localOptions.hidden = engine !== "local";
    els.providerOptions.hidden = engine !== "provider";
    els.colorOptions.hidden = els.form.elements.bg.value !== "color";
    els.marginField.hidden = !els.crop.checked;
    if (e.target === els.model) updateModelHint();
    if (e.target === els.provider) updateProviderHint();
    if (e.target === els.apiKey) {
      localStorage.setItem(KEY_STORAGE, els.apiKey.value.trim());
      loadModels();
    }
  });
  for (const swatch of document.querySelectorAll(".swatch")) {
    swatch.addEventListener("click", () => {
      els.bgColor.value = swatch.dataset.color;
      for (const s of document.querySelectorAll(".swatch")) s.setAttribute("aria-pressed", String(s === swatch));
    });
  }

  // ---------------------------------------------------------------- start
  els.apiKey.value = localStorage.getItem(KEY_STORAGE) || "";
  if (els.apiKey.value) els.keyGroup.hidden = false;
  loadStatus();
  loadModels();
})();
