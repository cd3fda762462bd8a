import ChronikCommerce

/// The dashboard of `GET /`: one page, its style sheet and its script,
/// served by the binary (no build step, no CDN). The page reads the JSON
/// API (`/stats`, `/stats/orders`, `/models/…`) and follows `/subscribe`;
/// docs/SERVER.md, "Dashboard", tells what it shows. Stable ids and
/// `data-` attributes name every figure, for tests and scrapers.
enum Dashboard {
    /// The page: its markup only (style and script are files of their own,
    /// so the Content-Security-Policy needs no inline code).
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chronik — shop dashboard</title>
<link rel="stylesheet" href="/dashboard.css">
</head>
<body data-state="loading">
<header>
  <h1>Chronik <small>shop dashboard</small></h1>
  <span id="conn" class="down">connecting…</span>
  <span id="updated"></span>
  <span id="status" role="status"></span>
</header>
<p id="not-ready" role="alert" hidden></p>
<form id="token-form" hidden>
  <label for="token-input">This server needs a bearer token with the <code>read</code> scope:</label>
  <input id="token-input" type="password" autocomplete="off" spellcheck="false">
  <button type="submit">Use token</button>
</form>
<main>
  <section id="log-stats" class="card">
    <h2>Log</h2>
    <dl>
      <dt>events</dt><dd id="stat-events">–</dd>
      <dt>streams</dt><dd id="stat-streams">–</dd>
      <dt>segments</dt><dd id="stat-segments">–</dd>
      <dt>on disk</dt><dd id="stat-bytes">–</dd>
      <dt>head position</dt><dd id="stat-head">–</dd>
      <dt>head hash</dt><dd id="stat-hash" class="mono">–</dd>
      <dt>compression</dt><dd id="stat-compression">–</dd>
    </dl>
  </section>
  <section id="rate" class="card wide">
    <h2>Append rate <small id="rate-now"></small></h2>
    <svg id="rate-chart" viewBox="0 0 600 120" preserveAspectRatio="none" role="img" aria-label="events appended per second, last two minutes"></svg>
    <p class="axis"><span>−2 min</span><span>now</span></p>
  </section>
  <section id="orders" class="card">
    <h2>Orders by status <small id="orders-total"></small></h2>
    <table><tbody id="orders-by-status"></tbody></table>
  </section>
  <section id="finance-card" class="card wide">
    <h2>Finance per day and currency <small>latest 14</small></h2>
    <table>
      <thead><tr><th>day</th><th>currency</th><th class="num">captured</th><th class="num">refunded</th><th class="num">net</th></tr></thead>
      <tbody id="finance"></tbody>
    </table>
  </section>
  <section id="fraud-card" class="card wide">
    <h2>Top fraud scores</h2>
    <table>
      <thead><tr><th>order</th><th class="num">score</th><th>reasons</th></tr></thead>
      <tbody id="fraud"></tbody>
    </table>
  </section>
  <section id="search" class="card">
    <h2>Searches without results</h2>
    <table><tbody id="zero-searches"></tbody></table>
  </section>
  <section id="stock" class="card wide">
    <h2>Low stock</h2>
    <table>
      <thead><tr><th>sku</th><th>warehouse</th><th class="num">available</th><th class="num">reorder at</th></tr></thead>
      <tbody id="low-stock"></tbody>
    </table>
    <h2>Replenishment</h2>
    <table>
      <thead><tr><th>sku</th><th>warehouse</th><th class="num">available</th><th class="num">order</th></tr></thead>
      <tbody id="replenishment"></tbody>
    </table>
  </section>
  <section id="feed-card" class="card">
    <h2>Live events</h2>
    <ol id="feed"></ol>
  </section>
</main>
<script src="/dashboard.js"></script>
</body>
</html>
"""#

    static let style = #"""
:root { --bg: #f4f5f7; --card: #fff; --ink: #1d2330; --muted: #687083; --line: #e3e6ec; --accent: #2f6fdf; --bad: #c0392b; --good: #1a7f45; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header { display: flex; align-items: baseline; gap: 1rem; padding: .8rem 1.2rem; background: var(--ink); color: #fff; }
header h1 { margin: 0; font-size: 1.3rem; }
header h1 small { font-weight: normal; color: #aab3c5; }
#conn { padding: .1rem .5rem; border-radius: 1rem; font-size: .8rem; }
#conn.live { background: var(--good); }
#conn.down { background: #7a5a00; }
#updated, #status { color: #aab3c5; font-size: .85rem; }
body[data-state="error"] #status, body[data-state="needs-token"] #status { color: #ffb4a8; }
#token-form { margin: 1rem 1.2rem; padding: 1rem; background: #fff3cd; border: 1px solid #e5c866; border-radius: 6px; display: flex; gap: .6rem; align-items: center; flex-wrap: wrap; }
#token-form[hidden] { display: none; }
#not-ready { margin: 1rem 1.2rem; padding: .8rem 1rem; background: #fde2dd; border: 1px solid #d9534f; border-radius: 6px; color: #6b1a12; font-weight: 600; }
#not-ready[hidden] { display: none; }
main { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); grid-auto-flow: row dense; gap: 1rem; padding: 1rem 1.2rem; }
#feed-card { grid-column: 4; grid-row: 1 / span 4; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; overflow-x: auto; min-width: 0; }
.card.wide { grid-column: span 2; }
h2 { margin: 0 0 .5rem; font-size: 1rem; }
h2 small { font-weight: normal; color: var(--muted); margin-left: .4rem; }
.card h2 + table + h2, table + h2 { margin-top: .8rem; }
dl { display: grid; grid-template-columns: auto 1fr; gap: .25rem 1rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; font-variant-numeric: tabular-nums; font-weight: 600; }
.mono, #feed { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: .2rem .4rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
thead th { color: var(--muted); font-weight: normal; font-size: .8rem; }
tbody th { font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.neg { color: var(--bad); }
tr.empty td { color: var(--muted); font-style: italic; }
td.bar { width: 45%; }
td.bar span { display: block; height: .7rem; background: var(--accent); border-radius: 2px; min-width: 1px; }
.score { font-weight: 700; color: var(--bad); }
.reasons { white-space: normal; }
.reason { display: inline-block; margin: 0 .25rem .15rem 0; padding: 0 .35rem; background: #fdecea; border-radius: 3px; font-size: .78rem; }
#rate-chart { width: 100%; height: 120px; background: #fafbfc; border: 1px solid var(--line); }
#rate-chart rect { fill: var(--accent); }
#rate-chart text { fill: var(--muted); font-size: 10px; }
.axis { display: flex; justify-content: space-between; margin: .2rem 0 0; color: var(--muted); font-size: .75rem; }
#feed { list-style: none; margin: 0; padding: 0; font-size: .78rem; overflow: hidden; }
#feed li { display: grid; grid-template-columns: 4rem 1fr; gap: 0 .4rem; padding: .12rem 0; border-bottom: 1px solid var(--line); }
#feed li time { color: var(--muted); }
#feed .pos { color: var(--muted); }
#feed .type { font-weight: 600; overflow: hidden; text-overflow: ellipsis; }
#feed .stream { grid-column: 2; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#feed li time { grid-column: 2; }
@media (max-width: 1100px) { main { grid-template-columns: 1fr; } .card.wide, #feed-card { grid-column: auto; grid-row: auto; } }
"""#

    /// The script, after its table of currency decimals: the exceptions to
    /// 2 of `Money.decimals(of:)`, the one source of the CLI's amounts.
    static let script = "const DECIMALS = " + decimalsTable + ";\n" + DashboardScript.body

    /// `{"BHD":3,…,"JPY":0,…}`: every code whose minor unit is not 2 decimals.
    static let decimalsTable: String = {
        let codes = Money.zeroDecimalCurrencies.union(Money.threeDecimalCurrencies).union(Money.fourDecimalCurrencies)
        return "{" + codes.sorted().map { "\"\($0)\":\(Money.decimals(of: $0))" }.joined(separator: ",") + "}"
    }()
}
