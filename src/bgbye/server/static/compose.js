// Output composition in the browser: the server returns the cut-out once (RGBA PNG); the
// background, crop, mask-only and format are applied here, so changing them is instant, and the
// touch-up brush edits the same alpha every output is made from. The rules mirror
// bgbye/postprocess.py: crop = pixels with alpha > 16 grown by the margin; an image background
// covers the frame and is centred; JPEG without a background gets white.
"use strict";

(function () {
  const CROP_THRESHOLD = 16;
  const MIME = { png: "image/png", webp: "image/webp", jpg: "image/jpeg" };

  function canvas(w, h) {
    const c = document.createElement("canvas");
    c.width = w;
    c.height = h;
    return c;
  }

  // Decode a blob to RGBA bytes (null when the browser cannot decode it).
  async function decode(blob) {
    let bitmap;
    try {
      bitmap = await createImageBitmap(blob, { premultiplyAlpha: "none", colorSpaceConversion: "none" });
    } catch (_) {
      return null;
    }
    const c = canvas(bitmap.width, bitmap.height);
    const ctx = c.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    return { width: c.width, height: c.height, data: ctx.getImageData(0, 0, c.width, c.height).data };
  }

  // pixels = {width, height, rgb: RGBA bytes (colours), alpha: Uint8Array (the mask)}
  async function pixelsFor(resultBlob, originalBlob, useResultColours) {
    const result = await decode(resultBlob);
    if (!result) throw new Error("The result could not be decoded.");
    const n = result.width * result.height;
    const alpha = new Uint8Array(n);
    for (let i = 0; i < n; i++) alpha[i] = result.data[4 * i + 3];
    let rgb = result.data;
    if (!useResultColours && originalBlob) {
      // The original keeps the colours under erased pixels, so "restore" brings them back.
      const original = await decode(originalBlob);
      if (original && original.width === result.width && original.height === result.height) rgb = original.data;
    }
    return { width: result.width, height: result.height, rgb, alpha };
  }

  function subjectBox(alpha, width, height, margin) {
    let x0 = width, y0 = height, x1 = -1, y1 = -1;
    for (let y = 0; y < height; y++) {
      const row = y * width;
      for (let x = 0; x < width; x++) {
        if (alpha[row + x] > CROP_THRESHOLD) {
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          y1 = y;
        }
      }
    }
    if (x1 < 0) return { x: 0, y: 0, w: width, h: height };
    x0 = Math.max(0, x0 - margin);
    y0 = Math.max(0, y0 - margin);
    x1 = Math.min(width, x1 + 1 + margin);
    y1 = Math.min(height, y1 + 1 + margin);
    return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  }

  // RGBA ImageData of the cut-out (or the mask as grey, opaque).
  function cutoutImageData(pixels, maskOnly) {
    const { width, height, rgb, alpha } = pixels;
    const out = new ImageData(width, height);
    const d = out.data;
    for (let i = 0, n = width * height; i < n; i++) {
      const a = alpha[i];
      if (maskOnly) {
        d[4 * i] = d[4 * i + 1] = d[4 * i + 2] = a;
        d[4 * i + 3] = 255;
      } else {
        d[4 * i] = rgb[4 * i];
        d[4 * i + 1] = rgb[4 * i + 1];
        d[4 * i + 2] = rgb[4 * i + 2];
        d[4 * i + 3] = a;
      }
    }
    return out;
  }

  // Redraw the part of a preview canvas a brush stroke touched.
  function updateRegion(imageData, pixels, maskOnly, x, y, w, h) {
    const { width, rgb, alpha } = pixels;
    const d = imageData.data;
    for (let yy = y; yy < y + h; yy++) {
      for (let xx = x; xx < x + w; xx++) {
        const i = yy * width + xx;
        const a = alpha[i];
        if (maskOnly) {
          d[4 * i] = d[4 * i + 1] = d[4 * i + 2] = a;
        } else {
          d[4 * i] = rgb[4 * i];
          d[4 * i + 1] = rgb[4 * i + 1];
          d[4 * i + 2] = rgb[4 * i + 2];
          d[4 * i + 3] = a;
        }
      }
    }
  }

  function drawCover(ctx, image, w, h) {
    const scale = Math.max(w / image.width, h / image.height);
    const dw = image.width * scale, dh = image.height * scale;
    ctx.drawImage(image, (w - dw) / 2, (h - dh) / 2, dw, dh);
  }

  // out = {format, bg: {kind: "none"|"color"|"image", color, image (ImageBitmap)}, crop, margin, maskOnly}
  async function encode(pixels, out) {
    const full = canvas(pixels.width, pixels.height);
    full.getContext("2d").putImageData(cutoutImageData(pixels, out.maskOnly), 0, 0);
    const box = out.crop ? subjectBox(pixels.alpha, pixels.width, pixels.height, out.margin)
      : { x: 0, y: 0, w: pixels.width, h: pixels.height };
    const c = canvas(box.w, box.h);
    const ctx = c.getContext("2d");
    const bg = effectiveBackground(out);
    if (!out.maskOnly) {
      if (bg.kind === "color") {
        ctx.fillStyle = bg.color;
        ctx.fillRect(0, 0, box.w, box.h);
      } else if (bg.kind === "image" && bg.image) {
        drawCover(ctx, bg.image, box.w, box.h);
      }
    }
    ctx.drawImage(full, box.x, box.y, box.w, box.h, 0, 0, box.w, box.h);
    const mime = MIME[out.format] || MIME.png;
    const blob = await new Promise((resolve) => c.toBlob(resolve, mime, 0.92));
    if (!blob || blob.type !== mime) throw new Error(`This browser cannot write ${out.format.toUpperCase()} files.`);
    return blob;
  }

  // JPEG cannot be transparent: without a chosen background it is white (said in the settings).
  function effectiveBackground(out) {
    if (out.maskOnly) return { kind: "none" };
    if (out.bg.kind === "image" && !out.bg.image) return out.format === "jpg" ? { kind: "color", color: "#ffffff" } : { kind: "none" };
    if (out.bg.kind === "none" && out.format === "jpg") return { kind: "color", color: "#ffffff" };
    return out.bg;
  }

  window.bgbyeCompose = { decode, pixelsFor, subjectBox, cutoutImageData, updateRegion, encode, effectiveBackground, MIME };
})();
