// The output-naming rule of bgbye/naming.py, for the page's downloads (tests/test_naming.py
// runs both on the same cases): "dir/a.jpg" -> "dir/a.png"; a name already taken keeps the
// whole source name ("a.png.png"), then a counter ("a-2.png"). Compared case-insensitively.
"use strict";

(function (root) {
  function splitName(name) {
    const dot = name.lastIndexOf(".");
    return dot > 0 && dot < name.length - 1 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  }

  // `taken` is a Set of the lower-cased names given so far; it is updated.
  function uniqueName(rel, fmt, taken) {
    const slash = rel.lastIndexOf("/");
    const prefix = slash >= 0 ? rel.slice(0, slash + 1) : "";
    const name = rel.slice(slash + 1);
    const stem = splitName(name)[0];
    let candidates = [`${prefix}${stem}.${fmt}`, `${prefix}${name}.${fmt}`];
    for (let n = 2; ; n++) {
      for (const candidate of candidates) {
        if (!taken.has(candidate.toLowerCase())) {
          taken.add(candidate.toLowerCase());
          return candidate;
        }
      }
      candidates = [`${prefix}${stem}-${n}.${fmt}`];
    }
  }

  function outputNames(rels, fmt) {
    const taken = new Set();
    return rels.map((rel) => uniqueName(rel, fmt, taken));
  }

  const api = { splitName, uniqueName, outputNames };
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.bgbyeNaming = api;
})(typeof window !== "undefined" ? window : globalThis);
