// Drives the npm `remove.bg` client (unchanged) against bgbye. Its endpoint is a constant
// (https://api.remove.bg/v1.0/removebg) that it hands to unirest.post() on every call, so the
// only change is here: unirest.post is wrapped to rewrite that URL's origin to BGBYE_URL.
// Input (stdin): JSON list of {fn, options}; output (stdout): JSON list of
// {ok, result | error}, one per call, in order.
"use strict";
const unirest = require("unirest");
const UPSTREAM = "https://api.remove.bg";
const target = process.env.BGBYE_URL;
const post = unirest.post;
unirest.post = (url, ...rest) => post(url.replace(UPSTREAM, target), ...rest);

const removeBg = require("remove.bg");

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const calls = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const out = [];
  for (const call of calls) {
    try {
      out.push({ ok: true, result: await removeBg[call.fn](call.options) });
    } catch (error) {
      out.push({ ok: false, error });
    }
  }
  process.stdout.write(JSON.stringify(out));
}
main();
