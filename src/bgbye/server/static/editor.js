// The picture: fit / zoom / pan (wheel, pinch, keys), the before/after split that follows the
// pointer, and the touch-up brush (erase / restore on the mask, undo / redo).
"use strict";

(function () {
  const MIN_SCALE = 0.02;
  const MAX_SCALE = 32;
  const HISTORY = 20; // undo steps kept per result (a full mask copy each)

  function create(els, hooks) {
    const C = window.bgbyeCompose;
    const view = { scale: 1, tx: 0, ty: 0, mode: "fit" };
    let current = null; // {pixels, maskOnly, history: {undo, redo}}
    let imageData = null;
    let tool = "compare";
    let brushSize = 24;
    const pointers = new Map();
    let gesture = null;
    let spaceDown = false;
    let side = false; // before and after next to each other instead of the split

    // ------------------------------------------------------------ layout
    const gap = (w) => Math.max(8, Math.round(w * 0.03));

    function size() {
      if (!current) return null;
      const w = current.pixels.width;
      return { w: side ? 2 * w + gap(w) : w, h: current.pixels.height };
    }

    function setSide(on) {
      side = on;
      els.stage.classList.toggle("side", on);
      if (current) {
        const w = current.pixels.width;
        els.stage.style.setProperty("--half", `${(100 * w) / (2 * w + gap(w))}%`);
      }
      fit();
    }

    function fitScale() {
      const s = size();
      if (!s) return 1;
      const fw = els.frame.clientWidth, fh = els.frame.clientHeight;
      // Never blown up past the CSS pixel: small images show as they are (1:1 on most screens).
      return Math.max(MIN_SCALE, Math.min(fw / s.w, fh / s.h, 1));
    }

    function apply() {
      const s = size();
      if (!s) return;
      const w = s.w * view.scale, h = s.h * view.scale;
      Object.assign(els.stage.style, {
        width: `${w}px`, height: `${h}px`,
        transform: `translate(${Math.round(view.tx)}px, ${Math.round(view.ty)}px)`,
      });
      els.stage.classList.toggle("pixelated", view.scale * devicePixelRatio >= 2);
      els.frame.classList.toggle("zoomed", w > els.frame.clientWidth + 1 || h > els.frame.clientHeight + 1);
      hooks.onZoom(view.scale * devicePixelRatio);
    }

    function centre(scale) {
      const s = size();
      view.scale = scale;
      view.tx = (els.frame.clientWidth - s.w * scale) / 2;
      view.ty = (els.frame.clientHeight - s.h * scale) / 2;
    }

    function fit() {
      if (!size()) return;
      view.mode = "fit";
      centre(fitScale());
      apply();
    }

    function actual() {
      if (!size()) return;
      view.mode = "actual";
      centre(1 / devicePixelRatio);
      apply();
    }

    function zoomAt(factor, fx, fy) {
      if (!size()) return;
      const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, view.scale * factor));
      if (fx === undefined) { fx = els.frame.clientWidth / 2; fy = els.frame.clientHeight / 2; }
      view.tx = fx - (fx - view.tx) * (scale / view.scale);
      view.ty = fy - (fy - view.ty) * (scale / view.scale);
      view.scale = scale;
      view.mode = "free";
      apply();
    }

    function panBy(dx, dy) {
      view.tx += dx;
      view.ty += dy;
      if (view.mode === "fit") view.mode = "free";
      apply();
    }

    new ResizeObserver(() => { if (view.mode === "fit") fit(); else if (view.mode === "actual") actual(); }).observe(els.frame);

    // ------------------------------------------------------------ content
    // state = {pixels, maskOnly, history}; keepView: same size as before (version switch)
    function show(state, keepView) {
      const sameSize = current && state && current.pixels.width === state.pixels.width &&
        current.pixels.height === state.pixels.height;
      current = state;
      if (!state) return;
      if (side) {
        const w = state.pixels.width;
        els.stage.style.setProperty("--half", `${(100 * w) / (2 * w + gap(w))}%`);
      }
      if (!state.placeholder) { // a placeholder only sizes the original until a result comes
        els.afterCanvas.width = state.pixels.width;
        els.afterCanvas.height = state.pixels.height;
        imageData = C.cutoutImageData(state.pixels, state.maskOnly);
        els.afterCanvas.getContext("2d").putImageData(imageData, 0, 0);
      }
      if (!(keepView && sameSize)) fit();
      else apply();
      hooks.onHistory();
    }

    function redraw() {
      if (!current || current.placeholder) return;
      imageData = C.cutoutImageData(current.pixels, current.maskOnly);
      els.afterCanvas.getContext("2d").putImageData(imageData, 0, 0);
    }

    function setSplit(pos) {
      const p = Math.max(0, Math.min(100, pos));
      els.compareRange.value = String(p);
      els.stage.style.setProperty("--pos", `${p}%`);
    }

    // ------------------------------------------------------------ brush
    function toImage(e) {
      const r = els.afterCanvas.getBoundingClientRect(); // the result, in either layout
      const { width, height } = current.pixels;
      return { x: ((e.clientX - r.left) / r.width) * width, y: ((e.clientY - r.top) / r.height) * height };
    }

    function stamp(cx, cy, radius, value, dirty) {
      const { width, height, alpha } = current.pixels;
      const x0 = Math.max(0, Math.floor(cx - radius)), x1 = Math.min(width - 1, Math.ceil(cx + radius));
      const y0 = Math.max(0, Math.floor(cy - radius)), y1 = Math.min(height - 1, Math.ceil(cy + radius));
      if (x0 > x1 || y0 > y1) return;
      const r2 = radius * radius;
      for (let y = y0; y <= y1; y++) {
        const dy = y + 0.5 - cy;
        for (let x = x0; x <= x1; x++) {
          const dx = x + 0.5 - cx;
          if (dx * dx + dy * dy <= r2) alpha[y * width + x] = value;
        }
      }
      dirty.x0 = Math.min(dirty.x0, x0); dirty.y0 = Math.min(dirty.y0, y0);
      dirty.x1 = Math.max(dirty.x1, x1); dirty.y1 = Math.max(dirty.y1, y1);
    }

    function strokeTo(p) {
      const radius = Math.max(0.5, brushSize / 2 / view.scale);
      const value = gesture.tool === "erase" ? 0 : 255;
      const dirty = { x0: Infinity, y0: Infinity, x1: -1, y1: -1 };
      const from = gesture.last || p;
      const dist = Math.hypot(p.x - from.x, p.y - from.y);
      const steps = Math.max(1, Math.ceil(dist / Math.max(0.5, radius / 2)));
      for (let i = 1; i <= steps; i++) {
        const t = i / steps;
        stamp(from.x + (p.x - from.x) * t, from.y + (p.y - from.y) * t, radius, value, dirty);
      }
      gesture.last = p;
      if (dirty.x1 < 0) return;
      const w = dirty.x1 - dirty.x0 + 1, h = dirty.y1 - dirty.y0 + 1;
      C.updateRegion(imageData, current.pixels, current.maskOnly, dirty.x0, dirty.y0, w, h);
      els.afterCanvas.getContext("2d").putImageData(imageData, 0, 0, dirty.x0, dirty.y0, w, h);
    }

    function pushHistory() {
      const h = current.history;
      h.undo.push(current.pixels.alpha.slice());
      // A full mask per step: big images keep fewer steps (about 200 MB at most).
      const limit = Math.max(3, Math.min(HISTORY, Math.floor(2e8 / current.pixels.alpha.length)));
      while (h.undo.length > limit) h.undo.shift();
      h.redo.length = 0;
    }

    function step(from, to) {
      if (!current || !from.length) return;
      to.push(current.pixels.alpha.slice());
      current.pixels.alpha.set(from.pop());
      redraw();
      hooks.onHistory();
      hooks.onEdit();
    }

    const undo = () => current && step(current.history.undo, current.history.redo);
    const redo = () => current && step(current.history.redo, current.history.undo);

    function moveCursor(e) {
      const brushing = (tool === "erase" || tool === "restore") && current && !current.locked;
      els.brushCursor.hidden = !brushing;
      if (!brushing) return;
      const r = els.frame.getBoundingClientRect();
      Object.assign(els.brushCursor.style, {
        width: `${brushSize}px`, height: `${brushSize}px`,
        transform: `translate(${e.clientX - r.left - brushSize / 2}px, ${e.clientY - r.top - brushSize / 2}px)`,
      });
    }

    // ------------------------------------------------------------ pointer gestures
    function onStage(e) {
      const r = els.stage.getBoundingClientRect();
      return e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
    }

    function splitFrom(e) {
      const r = els.stage.getBoundingClientRect();
      setSplit(((e.clientX - r.left) / r.width) * 100);
    }

    els.frame.addEventListener("pointerdown", (e) => {
      if (!current || (e.pointerType === "mouse" && e.button !== 0 && e.button !== 1)) return;
      els.frame.setPointerCapture(e.pointerId);
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (pointers.size === 2) {
        if (gesture && gesture.kind === "stroke") hooks.onEdit();
        const [a, b] = [...pointers.values()];
        gesture = { kind: "pinch", dist: Math.hypot(a.x - b.x, a.y - b.y) };
        return;
      }
      if (pointers.size > 2) return;
      const panning = tool === "pan" || spaceDown || e.button === 1;
      if (!panning && (tool === "erase" || tool === "restore") && !current.locked) {
        pushHistory();
        gesture = { kind: "stroke", tool, last: null };
        strokeTo(toImage(e));
        hooks.onHistory();
      } else if (!panning && tool === "compare" && onStage(e) && !current.noSplit && !side) {
        gesture = { kind: "split" };
        splitFrom(e);
      } else {
        gesture = { kind: "pan", x: e.clientX, y: e.clientY };
      }
      e.preventDefault();
    });

    els.frame.addEventListener("pointermove", (e) => {
      moveCursor(e);
      if (!pointers.has(e.pointerId)) return;
      const prev = pointers.get(e.pointerId);
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (!gesture) return;
      if (gesture.kind === "pinch" && pointers.size === 2) {
        const [a, b] = [...pointers.values()];
        const dist = Math.hypot(a.x - b.x, a.y - b.y);
        const r = els.frame.getBoundingClientRect();
        zoomAt(dist / (gesture.dist || dist), (a.x + b.x) / 2 - r.left, (a.y + b.y) / 2 - r.top);
        panBy((e.clientX - prev.x) / 2, (e.clientY - prev.y) / 2);
        gesture.dist = dist;
      } else if (gesture.kind === "stroke") {
        strokeTo(toImage(e));
      } else if (gesture.kind === "split") {
        splitFrom(e);
      } else if (gesture.kind === "pan") {
        panBy(e.clientX - gesture.x, e.clientY - gesture.y);
        gesture.x = e.clientX;
        gesture.y = e.clientY;
      }
    });

    function end(e) {
      if (!pointers.delete(e.pointerId)) return;
      if (gesture && gesture.kind === "stroke") hooks.onEdit();
      if (pointers.size === 0) gesture = null;
    }
    els.frame.addEventListener("pointerup", end);
    els.frame.addEventListener("pointercancel", end);
    els.frame.addEventListener("pointerleave", () => { els.brushCursor.hidden = true; });

    els.frame.addEventListener("wheel", (e) => {
      if (!current) return;
      e.preventDefault();
      const r = els.frame.getBoundingClientRect();
      zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });

    els.frame.addEventListener("keydown", (e) => {
      if (!current || e.target !== els.frame) return;
      const pan = 40;
      const keys = {
        "+": () => zoomAt(1.25), "=": () => zoomAt(1.25), "-": () => zoomAt(0.8),
        "0": fit, "1": actual,
        ArrowLeft: () => panBy(pan, 0), ArrowRight: () => panBy(-pan, 0),
        ArrowUp: () => panBy(0, pan), ArrowDown: () => panBy(0, -pan),
      };
      if (keys[e.key] && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        keys[e.key]();
      }
    });
    document.addEventListener("keydown", (e) => { if (e.code === "Space" && e.target === els.frame) { spaceDown = true; e.preventDefault(); } });
    document.addEventListener("keyup", (e) => { if (e.code === "Space") spaceDown = false; });

    els.compareRange.addEventListener("input", () => setSplit(parseFloat(els.compareRange.value)));

    return {
      show, redraw, fit, actual, undo, redo, setSplit, setSide,
      zoomIn: () => zoomAt(1.25), zoomOut: () => zoomAt(0.8),
      setTool(t) { tool = t; els.frame.dataset.tool = t; },
      setBrushSize(n) { brushSize = n; },
      get current() { return current; },
      get view() { return { ...view }; },
    };
  }

  window.bgbyeEditor = { create };
})();
