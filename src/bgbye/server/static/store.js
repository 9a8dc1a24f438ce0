// Results kept across reloads: one IndexedDB record per image (the original, every result and
// its edited mask). Nothing leaves the browser.
"use strict";

(function () {
  const DB = "bgbye";
  const STORE = "items";
  let opening = null;

  function open() {
    if (!opening) {
      opening = new Promise((resolve, reject) => {
        if (!window.indexedDB) { reject(new Error("IndexedDB is not available")); return; }
        const req = indexedDB.open(DB, 1);
        req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id" });
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    }
    return opening;
  }

  async function run(mode, fn) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const result = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
    });
  }

  const put = (record) => run("readwrite", (s) => s.put(record));
  const remove = (id) => run("readwrite", (s) => s.delete(id));
  const clear = () => run("readwrite", (s) => s.clear());
  const all = () => run("readonly", (s) => s.getAll());

  window.bgbyeStore = { put, remove, clear, all };
})();
