/// The dashboard's script (`GET /dashboard.js`, after the decimals table).
enum DashboardScript {
    static let body = #"""
// Chronik dashboard: reads the server's JSON API, follows /subscribe,
// and refreshes its figures (debounced) when events arrive. No library.
"use strict";

// ---- money, as the CLI prints it (Money.text): ISO 4217 decimals ----
function decimals(currency) {
  return Object.prototype.hasOwnProperty.call(DECIMALS, currency) ? DECIMALS[currency] : 2;
}
function grouped(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}
function money(minor, currency) {
  let m = BigInt(minor);
  const sign = m < 0n ? "-" : "";
  if (m < 0n) m = -m;
  const d = decimals(currency);
  if (d === 0) return currency + " " + sign + grouped(m.toString());
  const scale = 10n ** BigInt(d);
  return currency + " " + sign + grouped((m / scale).toString()) + "." + (m % scale).toString().padStart(d, "0");
}
function count(n) { return grouped(String(n)); }
function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(1)) + " " + units[i];
}

// ---- the token: #token=… in the URL (kept for this tab only), or the form ----
const tokenKey = "chronik.token";
let token = sessionStorage.getItem(tokenKey) || "";
(function takeTokenFromFragment() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!m) return;
  token = decodeURIComponent(m[1]);
  sessionStorage.setItem(tokenKey, token);
  history.replaceState(null, "", location.pathname + location.search);  // out of the address bar and history
})();
function authHeaders() { return token ? { Authorization: "Bearer " + token } : {}; }

class NeedsToken extends Error {}
async function api(path) {
  const r = await fetch(path, { headers: authHeaders(), cache: "no-store" });
  if (r.status === 401 || r.status === 403) throw new NeedsToken(await errorText(r));
  if (!r.ok) throw new Error(path + ": " + await errorText(r));
  return parseJSON(await r.text());
}
// Integers past 2^53 (money in minor units can reach 2^63) as BigInt, from
// their source text: r.json() rounded them before money() saw them (stop 39,
// a finance controller: EUR 90,071,992,547,409.93 shown as …09.92).
function parseJSON(text) {
  return JSON.parse(text, (key, value, context) =>
    typeof value === "number" && !Number.isSafeInteger(value) && context && /^-?\d+$/.test(context.source)
      ? BigInt(context.source) : value);
}
async function errorText(r) {
  try { const j = await r.json(); return r.status + " " + j.error.code + ": " + j.error.message; } catch (_) { return String(r.status); }
}

// ---- DOM helpers: text only (no innerHTML: search queries are what shoppers typed) ----
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "title") e.title = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
function fill(id, rows, empty, columns) {
  const body = $(id);
  body.replaceChildren(...(rows.length ? rows : [el("tr", { class: "empty" }, el("td", { colspan: String(columns) }, empty))]));
}
function setState(state, message) {
  document.body.dataset.state = state;
  $("status").textContent = message;
}

// ---- the figures ----
let lastSeen = null;     // the last position the feed delivered
let refreshes = 0;
async function refresh() {
  // Read-your-writes: the models first apply everything up to the head
  // this refresh shows (read first), so no figure is older than that head —
  // also when an append lands while the refresh runs. Not on the first
  // load, which must not fail while the models catch up.
  const stats = await api("/stats");
  const wait = lastSeen === null || stats.headPosition === 0 ? "" : "waitFor=" + (stats.headPosition - 1) + "&timeoutMs=3000";
  const q = (path, extra) => path + ([extra, wait].filter(Boolean).length ? "?" + [extra, wait].filter(Boolean).join("&") : "");
  const [orders, finance, low, reorder, search, fraud] = await Promise.all([
    api(q("/stats/orders", "")),
    api(q("/models/finance", "")),
    api(q("/models/inventory", "low=true&limit=12")),
    api(q("/models/replenishment", "limit=12")),
    api(q("/models/search", "zeroResults=true&limit=10")),
    api(q("/models/fraud", "limit=8")),
  ]);
  showStats(stats);
  showOrders(orders);
  showFinance(finance);
  showStock(low, reorder);
  showSearch(search);
  showFraud(fraud);
  refreshes += 1;
  document.body.dataset.refreshes = String(refreshes);
  document.body.dataset.modelsPosition = String(orders.modelsPosition);
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

function showStats(s) {
  const put = (id, text, value) => { const e = $(id); e.textContent = text; e.dataset.value = String(value); };
  put("stat-events", count(s.events), s.events);
  put("stat-streams", count(s.streams), s.streams);
  put("stat-segments", count(s.segments), s.segments);
  put("stat-bytes", bytes(s.bytesOnDisk), s.bytesOnDisk);
  $("stat-bytes").title = count(s.bytesOnDisk) + " bytes";
  put("stat-head", count(s.headPosition), s.headPosition);
  put("stat-hash", s.headHash.slice(0, 16) + "…", s.headHash);
  $("stat-hash").title = s.headHash;
  put("stat-compression", s.compression, s.compression);
  document.body.dataset.head = String(s.headPosition);
}

function showOrders(o) {
  const rows = Object.entries(o.fulfillment).sort((a, b) => b[1] - a[1]).map(([status, n]) =>
    el("tr", { "data-status": status }, el("th", {}, status), el("td", { class: "num", "data-count": String(n) }, count(n)),
       el("td", { class: "bar" }, el("span"))));
  fill("orders-by-status", rows, "no orders", 3);
  const max = Math.max(1, ...Object.values(o.fulfillment));
  for (const tr of $("orders-by-status").querySelectorAll("tr[data-status]")) {
    tr.querySelector(".bar span").style.width = (100 * Number(tr.querySelector("td").dataset.count) / max) + "%";
  }
  $("orders-total").textContent = count(o.orders) + " orders";
  $("orders-total").dataset.value = String(o.orders);
}

function showFinance(days) {
  const recent = days.slice().sort((a, b) => (b.day + b.currency).localeCompare(a.day + a.currency)).slice(0, 14);
  const cell = (field, e) => el("td", { class: "num" + (e[field] < 0 ? " neg" : ""), "data-field": field, "data-minor": String(e[field]) },
                                money(e[field], e.currency));
  fill("finance", recent.map((e) => el("tr", { "data-day": e.day, "data-currency": e.currency },
    el("th", {}, e.day), el("td", {}, e.currency), cell("captured", e), cell("refunded", e), cell("net", e))), "no payments yet", 5);
}

function showStock(low, reorder) {
  fill("low-stock", low.map((l) => el("tr", { "data-sku": l.sku, "data-warehouse": l.warehouseId },
    el("th", {}, l.sku), el("td", {}, l.warehouseId), el("td", { class: "num", "data-field": "available" }, count(l.available)),
    el("td", { class: "num" }, l.reorderPoint === null ? "–" : count(l.reorderPoint)))), "nothing low", 4);
  fill("replenishment", reorder.map((r) => el("tr", { "data-sku": r.sku, "data-warehouse": r.warehouseId },
    el("th", {}, r.sku), el("td", {}, r.warehouseId), el("td", { class: "num" }, count(r.available)),
    el("td", { class: "num", "data-field": "reorderQty" }, count(r.reorderQty)))), "nothing to reorder", 4);
}

function showSearch(queries) {
  fill("zero-searches", queries.map((s) => el("tr", { "data-query": s.query, "data-count": String(s.count) },
    el("th", {}, "“" + s.query + "”"), el("td", { class: "num" }, count(s.count)))), "no search without results", 2);
}

function showFraud(scores) {
  fill("fraud", scores.map((s) => el("tr", { "data-order": s.orderId, "data-score": String(s.score) },
    el("th", {}, s.orderId), el("td", { class: s.score > 0 ? "num score" : "num" }, String(s.score)),
    el("td", { class: "reasons" }, ...s.reasons.map((r) => el("span", { class: "reason", title: r.detail, "data-code": r.code },
      r.code + " +" + r.points))))), "no scores yet", 3);
}

// ---- the feed: Server-Sent Events read with fetch, so the token goes
// in the Authorization header (EventSource cannot send one) ----
const feedSize = 25;
const arrivals = [];     // arrival times (ms) of live events, for the rate chart
let liveFrom = Infinity;   // events from here on arrived live (the rest is the backlog shown at start)
let following = false;     // a follow() loop is running
async function follow(from) {
  following = true;
  for (;;) {
    try {
      const headers = authHeaders();
      if (lastSeen !== null) headers["Last-Event-ID"] = String(lastSeen);
      const r = await fetch("/subscribe?from=" + from, { headers, cache: "no-store" });
      if (r.status === 401 || r.status === 403) {
        // Ended: start() follows again once a token is given (stop 39, a
        // rotated token: the figures came back, the feed never did).
        following = false;
        setLive(false);
        askToken(await errorText(r));
        return;
      }
      if (!r.ok || !r.body) throw new Error("subscribe: " + r.status);
      setLive(true);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          onMessage(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (_) { /* reconnect below */ }
    setLive(false);
    await new Promise((done) => setTimeout(done, 1000));
  }
}

function onMessage(block) {
  let id = null, data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("id:")) id = line.slice(3).trim();
    else if (line.startsWith("data:")) data += line.slice(5).replace(/^ /, "");
  }
  if (id === null || data === "") return;  // a comment (heartbeat) or the retry hint
  const e = JSON.parse(data);
  lastSeen = e.position;
  document.body.dataset.feedLast = String(e.position);
  if (e.position >= liveFrom) arrivals.push(Date.now());
  const item = el("li", { "data-position": String(e.position), "data-type": e.type, "data-stream": e.stream },
    el("span", { class: "pos" }, "#" + e.position), el("span", { class: "type" }, e.type),
    el("span", { class: "stream" }, e.stream), el("time", { datetime: e.time }, e.time.replace("T", " ").replace(/\.\d+Z$|Z$/, "")));
  const feed = $("feed");
  feed.prepend(item);
  while (feed.children.length > feedSize) feed.lastElementChild.remove();
  scheduleRefresh();
}

let connected = false, serverReady = true;
function setLive(live) {
  connected = live;
  document.body.dataset.live = String(live);
  showConnection();
}
function showConnection() {
  $("conn").textContent = !serverReady ? "not ready" : connected ? "live" : "reconnecting…";
  $("conn").className = serverReady && connected ? "live" : "down";
}

// ---- debounced refresh: at most one in flight, one more queued ----
let timer = null, running = false, again = false;
function scheduleRefresh() {
  if (timer !== null) return;
  timer = setTimeout(runRefresh, 400);
}
async function runRefresh() {
  timer = null;
  if (running) { again = true; return; }
  running = true;
  try { await refresh(); setState("ready", ""); }
  catch (e) { if (e instanceof NeedsToken) askToken(e.message); else setState("error", String(e.message || e)); }
  running = false;
  if (again) { again = false; scheduleRefresh(); }
}

// ---- the append-rate chart: live events per second, last two minutes ----
const seconds = 120;
function drawRate() {
  const now = Date.now();
  while (arrivals.length && arrivals[0] < now - seconds * 1000) arrivals.shift();
  const buckets = new Array(seconds).fill(0);
  for (const t of arrivals) buckets[Math.min(seconds - 1, Math.floor((now - t) / 1000))] += 1;
  buckets.reverse();  // oldest first
  const w = 600, h = 120, max = Math.max(5, ...buckets), step = w / seconds;
  const ns = "http://www.w3.org/2000/svg";
  const svg = $("rate-chart");
  const shapes = [];
  buckets.forEach((n, i) => {
    if (n === 0) return;
    const r = document.createElementNS(ns, "rect");
    const bh = (h - 14) * n / max;
    r.setAttribute("x", String(i * step)); r.setAttribute("width", String(Math.max(1, step - 1)));
    r.setAttribute("y", String(h - bh)); r.setAttribute("height", String(bh));
    shapes.push(r);
  });
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", "4"); label.setAttribute("y", "11");
  label.textContent = "max " + max + "/s";
  shapes.push(label);
  svg.replaceChildren(...shapes);
  const last10 = arrivals.filter((t) => t >= now - 10000).length / 10;
  $("rate-now").textContent = last10.toFixed(1) + " events/s (last 10 s), " + count(arrivals.length) + " in 2 min";
  $("rate-now").dataset.recent = String(arrivals.length);
}

// ---- the server's readiness (/ready needs no token): a writer that
// failed, appends failing (a full disk), stopped models or a shutdown
// (stop 37, an operator: the page said "live" while every append failed) ----
async function checkReady() {
  let ok = true, why = "";
  try {
    const r = await fetch("/ready", { cache: "no-store" });
    if (r.status !== 200) {
      ok = false;
      try { const j = await r.json(); why = j.error.code + ": " + j.error.message; } catch (_) { why = "HTTP " + r.status; }
    }
  } catch (_) { ok = false; why = "the server does not answer"; }
  serverReady = ok;
  document.body.dataset.ready = String(ok);
  $("not-ready").hidden = ok;
  // Written only when it changes: the banner is an alert, and a screen
  // reader reads an alert again each time its text is set (stop 39).
  const text = ok ? "" : "The server is not ready — " + why;
  if ($("not-ready").textContent !== text) $("not-ready").textContent = text;
  showConnection();
}

// ---- token form ----
function askToken(message) {
  setState("needs-token", message || "this server needs a token");
  $("token-form").hidden = false;
  $("token-input").focus();
}
$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("token-input").value.trim();
  sessionStorage.setItem(tokenKey, token);
  $("token-form").hidden = true;
  start();
});

// ---- start: the figures, then the feed from a little before the head ----
const backlog = 15;
let started = false, retry = null;
async function start() {
  setState("loading", "loading…");
  if (retry !== null) { clearTimeout(retry); retry = null; }
  try {
    await refresh();
  } catch (e) {
    if (e instanceof NeedsToken) { askToken(e.message); return; }
    // Tried again until it answers (stop 39: a first load that failed — the
    // server restarting just after the page — stayed failed for good).
    setState("error", String(e.message || e) + " (trying again)");
    retry = setTimeout(start, 3000);
    return;
  }
  setState("ready", "");
  if (!following) {
    const head = Number(document.body.dataset.head);
    if (lastSeen === null) liveFrom = head;
    follow(lastSeen !== null ? lastSeen + 1 : Math.max(0, head - backlog));
  }
  if (started) return;
  started = true;
  setInterval(drawRate, 1000);
  checkReady();
  setInterval(checkReady, 3000);
  setInterval(scheduleRefresh, 30000);  // figures that change without events (none today) and a safety net
  drawRate();
}
start();
"""#
}
