// tickwire dashboard: one WebSocket to the broadcast server, speaking the protocol defined in
// tickwire/protocol.py. Plain DOM and a <canvas>; no framework, nothing fetched from elsewhere.
//
// Configuration, first match wins:
//   ?ws=<url>          the server's WebSocket URL (else /config.json's ws_url, else <this host>/ws)
//   ?realtime=0|1      connect at all (else /config.json's realtime, else on)
//   ?token=<token>     passed on to the WebSocket URL, for a server started with a token
//   ?backoff=<ms>      the first reconnect delay (default 5000); later delays double up to six
//                      times the first (5 s, 10 s, 20 s, 30 s …); tests use a short one
//
// Messages update the state below and mark a panel dirty; the DOM is written once per animation
// frame, so a burst of messages costs one repaint and a hidden tab does no rendering at all.
//
// Hooks for tests: #status[data-state] is "connecting", "connected", "reconnecting" or
// "disconnected"; market rows are #markets tr[data-symbol][data-venue]; #msg-count counts
// messages; #chart[data-candles] is the number of candles drawn; #book[data-valid]; #trades rows
// carry data-seq; .toast[data-code] (an Error's code such as LAGGED, or RESUMED, RESYNC_REQUIRED,
// SERVER_RESTARTED, DISCONNECTED); conn.ws.close() drops the connection as a network would.

"use strict";

const MAX_RECONNECT_ATTEMPTS = 10;
const DEFAULT_BACKOFF_MS = 5000;
const BACKOFF_CAP_FACTOR = 6;
const MAX_TRADES = 20;
const MAX_CANDLES = 500;
const BOOK_LEVELS = 10;
const MAX_TOASTS = 5;
const TOAST_MS = 8000;
const DEFAULT_HEARTBEAT_S = 30;

const $ = (selector) => document.querySelector(selector);

// ---- state -------------------------------------------------------------------------------------

const config = { wsUrl: "", realtime: true, backoffMs: DEFAULT_BACKOFF_MS };

const conn = {
  ws: null,
  attempts: 0,
  reconnectTimer: 0,
  heartbeatTimer: 0,
  heardAtMs: 0,
  hadSession: false,
};

let lastSeq = 0;
const stats = {
  total: 0,
  inSecond: 0,
  latencySumMs: 0,
  latencyCount: 0,
  latencyMaxMs: -Infinity,
};

/** Markets by "venue|symbol": the table's rows. */
const markets = new Map();
/** Candle series by "venue|symbol": { symbol, venue, byTimeframe: { "1m": [candle…] } }. */
const charts = new Map();
/** The latest BookTop data by "venue|symbol". */
const books = new Map();
/** MarketTrade and TradeExecuted, newest first. */
const trades = [];

let selected = null;
let timeframe = "1m";

const key = (venue, symbol) => `${venue ?? ""}|${symbol}`;

// ---- configuration -----------------------------------------------------------------------------

async function loadConfig() {
  const params = new URLSearchParams(location.search);
  let served = {};
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (response.ok) served = await response.json();
  } catch {
    // No /config.json (the page is served by something else): the defaults and parameters stand.
  }
  config.wsUrl = wsUrlFrom(params.get("ws") || served.ws_url || "/ws", params.get("token"));
  config.realtime = params.has("realtime")
    ? !["0", "false", "off"].includes(params.get("realtime"))
    : served.realtime !== false;
  const backoffMs = Number(params.get("backoff"));
  if (backoffMs > 0) config.backoffMs = backoffMs;
}

/**
 * Resolves a possibly relative URL against the page, gives it a WebSocket scheme and the token
 * if there is one. A URL that cannot be parsed is kept as it is: connecting to it fails with a
 * visible error.
 */
function wsUrlFrom(raw, token) {
  let url;
  try {
    url = new URL(raw, location.href);
  } catch {
    return raw;
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  if (url.protocol === "https:") url.protocol = "wss:";
  if (token) url.searchParams.set("token", token);
  return url.href;
}

// ---- connection (FR-WEBSOCKET-003) -------------------------------------------------------------

/** Connects now, forgetting earlier failed attempts: the first connection and the Retry button. */
function connect() {
  clearTimeout(conn.reconnectTimer);
  conn.attempts = 0;
  openSocket();
}

function openSocket() {
  discardSocket();
  if (conn.attempts) {
    setState("reconnecting", `Reconnecting (${attemptOf()})…`);
  } else {
    setState(conn.hadSession ? "reconnecting" : "connecting", "Connecting…");
  }
  let ws;
  try {
    ws = new WebSocket(config.wsUrl);
  } catch (error) {
    giveUp(`Invalid server URL ${config.wsUrl}: ${error.message}`);
    return;
  }
  ws.onmessage = (event) => onMessage(event.data);
  ws.onclose = () => {
    if (conn.ws === ws) onConnectionLost();
  };
  conn.ws = ws;
  conn.heardAtMs = Date.now();
}

/** Detaches and closes the current socket; its events no longer reach us. */
function discardSocket() {
  clearInterval(conn.heartbeatTimer);
  const ws = conn.ws;
  conn.ws = null;
  if (ws) {
    ws.onmessage = ws.onclose = null;
    ws.close();
  }
}

/** Waits 5 s, 10 s, 20 s, then 30 s between attempts (scaled by ?backoff=), ten at most. */
function onConnectionLost() {
  discardSocket();
  if (conn.attempts >= MAX_RECONNECT_ATTEMPTS) {
    giveUp(`Could not reconnect after ${MAX_RECONNECT_ATTEMPTS} attempts`);
    return;
  }
  const delayMs = Math.min(
    config.backoffMs * 2 ** conn.attempts,
    config.backoffMs * BACKOFF_CAP_FACTOR,
  );
  conn.attempts += 1;
  setState("reconnecting", `Reconnecting in ${formatSeconds(delayMs)} (${attemptOf()})`);
  conn.reconnectTimer = setTimeout(openSocket, delayMs);
}

const attemptOf = () => `attempt ${conn.attempts} of ${MAX_RECONNECT_ATTEMPTS}`;

function giveUp(reason) {
  setState("disconnected", reason);
  toast("error", "Disconnected", reason, "DISCONNECTED");
}

/** Sends Ping every heartbeat interval; a connection silent for two intervals is dropped. */
function startHeartbeat(intervalS) {
  const intervalMs = (intervalS > 0 ? intervalS : DEFAULT_HEARTBEAT_S) * 1000;
  clearInterval(conn.heartbeatTimer);
  conn.heartbeatTimer = setInterval(() => {
    if (Date.now() - conn.heardAtMs > 2 * intervalMs) {
      onConnectionLost();
      return;
    }
    send({ type: "Ping" });
  }, intervalMs);
}

function send(message) {
  if (conn.ws && conn.ws.readyState === WebSocket.OPEN) {
    conn.ws.send(JSON.stringify({ ...message, timestamp: new Date().toISOString() }));
  }
}

function setState(state, text) {
  const status = $("#status");
  status.dataset.state = state;
  $("#status-text").textContent = text;
  const retry = $("#retry");
  retry.hidden = state === "connected" || state === "connecting";
  retry.textContent = conn.hadSession || config.realtime ? "Retry" : "Connect";
}

// ---- messages ----------------------------------------------------------------------------------

const handlers = {
  Connected: onConnected,
  MarketData: (message) => upsertMarket(message.data),
  ChartUpdate: onChartUpdate,
  BookTop: onBookTop,
  MarketTrade: (message) => addTrade("market", message),
  TradeExecuted: (message) => addTrade("executed", message),
  Error: onError,
  Resumed: onResumed,
  ResyncRequired: onResyncRequired,
};

function onMessage(raw) {
  conn.heardAtMs = Date.now();
  let message;
  try {
    message = JSON.parse(raw);
  } catch (error) {
    console.warn("tickwire: a message that is not JSON was skipped", error);
    return;
  }
  countMessage(message);
  const handle = handlers[message.type];
  if (handle) handle(message);
  // After the handler: Connected compares the server's sequence with the last one seen before it.
  if (Number.isInteger(message.seq) && message.seq > lastSeq) lastSeq = message.seq;
  schedule("stats");
}

function countMessage(message) {
  stats.total += 1;
  stats.inSecond += 1;
  const sentMs = typeof message.data?.timestamp === "number"
    ? message.data.timestamp
    : Date.parse(message.timestamp);
  if (Number.isFinite(sentMs)) {
    const latencyMs = Date.now() - sentMs;
    stats.latencySumMs += latencyMs;
    stats.latencyCount += 1;
    stats.latencyMaxMs = Math.max(stats.latencyMaxMs, latencyMs);
  }
}

/**
 * A new connection is up. After a reconnect, ask for the critical messages missed meanwhile —
 * unless the server's sequence is behind ours: then it is a restarted server, with nothing to
 * resume from.
 */
function onConnected(message) {
  const data = message.data ?? {};
  conn.attempts = 0;
  const server = [data.server, data.version].filter(Boolean).join(" ");
  setState("connected", server ? `Connected to ${server}` : "Connected");
  startHeartbeat(data.heartbeat_interval);
  if (conn.hadSession && lastSeq > 0) {
    if (Number.isInteger(data.last_seq) && data.last_seq < lastSeq) {
      toast(
        "info",
        "Server restarted",
        "A new sequence: missed trades cannot be replayed.",
        "SERVER_RESTARTED",
      );
      lastSeq = 0;
    } else {
      send({ type: "Resume", data: { last_seq: lastSeq } });
    }
  }
  conn.hadSession = true;
}

function onResumed(message) {
  const replayed = message.data?.replayed ?? 0;
  if (replayed > 0) toast("info", "Resumed", `${replayed} missed message(s) replayed`, "RESUMED");
}

function onResyncRequired(message) {
  const { last_seq: last, oldest_seq: oldest } = message.data ?? {};
  toast(
    "warning",
    "Resync required",
    `Messages after #${last} are gone from the server's history (it starts at #${oldest}): ` +
      "trades and positions shown may be incomplete.",
    "RESYNC_REQUIRED",
  );
}

function onError(message) {
  const data = message.data ?? {};
  const text = data.message ?? message.message ?? "Unknown error";
  if (data.code === "LAGGED") {
    toast("warning", "Fell behind", text, "LAGGED");
  } else {
    toast("error", data.code ?? "Error", text, data.code ?? "ERROR");
  }
}

/** A market's row: created on its first MarketData (or ChartUpdate), then updated in place. */
function upsertMarket(data, quote = data) {
  if (!data?.symbol) return;
  const k = key(data.venue, data.symbol);
  let market = markets.get(k);
  if (!market) {
    market = { symbol: data.symbol, venue: data.venue ?? "", quote: {}, row: null, dirty: true };
    markets.set(k, market);
  }
  for (const [name, value] of Object.entries(quote)) {
    if (value !== null && value !== undefined) market.quote[name] = value;
  }
  market.dirty = true;
  schedule("markets");
  if (!selected) select(market.venue, market.symbol);
}

function onChartUpdate(message) {
  const data = message.data;
  if (!data?.candle) return;
  upsertMarket(data, {
    price: data.latest_price,
    price_change_24h: data.price_change_24h,
    price_change_percent_24h: data.price_change_percent_24h,
  });
  const k = key(data.venue, data.symbol);
  let series = charts.get(k);
  if (!series) {
    series = { symbol: data.symbol, venue: data.venue ?? "", byTimeframe: {} };
    charts.set(k, series);
  }
  const candles = (series.byTimeframe[data.timeframe] ??= []);
  upsertCandle(candles, data.candle);
  if (isSelected(data.venue, data.symbol) && data.timeframe === timeframe) schedule("chart");
}

/** Candles stay sorted by open time; the growing candle is replaced, a new one appended. */
function upsertCandle(candles, candle) {
  let i = candles.length - 1;
  while (i >= 0 && candles[i].timestamp > candle.timestamp) i -= 1;
  if (i >= 0 && candles[i].timestamp === candle.timestamp) candles[i] = candle;
  else candles.splice(i + 1, 0, candle);
  if (candles.length > MAX_CANDLES) candles.splice(0, candles.length - MAX_CANDLES);
}

function onBookTop(message) {
  const data = message.data;
  if (!data?.symbol) return;
  books.set(key(data.venue, data.symbol), data);
  if (isSelected(data.venue, data.symbol)) schedule("book");
}

function addTrade(kind, message) {
  if (!message.data) return;
  trades.unshift({ kind, seq: message.seq, ...message.data });
  trades.length = Math.min(trades.length, MAX_TRADES);
  schedule("trades");
}

// ---- selection ---------------------------------------------------------------------------------

function select(venue, symbol) {
  selected = { venue: venue ?? "", symbol };
  schedule("markets", "chart", "book");
}

/** An update without a venue matches a selection of any venue, and the other way round. */
function isSelected(venue, symbol) {
  return (
    selected !== null &&
    selected.symbol === symbol &&
    (!venue || !selected.venue || selected.venue === venue)
  );
}

/** The entry of `map` for the selection: the same venue if there is one, else a compatible one. */
function forSelection(map) {
  if (!selected) return undefined;
  const exact = map.get(key(selected.venue, selected.symbol));
  if (exact) return exact;
  for (const value of map.values()) {
    if (isSelected(value.venue, value.symbol)) return value;
  }
  return undefined;
}

const selectionLabel = () =>
  selected ? [selected.symbol, selected.venue].filter(Boolean).join(" · ") : "";

// ---- rendering ---------------------------------------------------------------------------------

const dirty = new Set();
let frameRequested = false;

function schedule(...panels) {
  for (const panel of panels) dirty.add(panel);
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(render);
  }
}

const renderers = {
  stats: renderCounters,
  markets: renderMarkets,
  chart: renderChart,
  book: renderBook,
  trades: renderTrades,
};

function render() {
  frameRequested = false;
  const panels = [...dirty];
  dirty.clear();
  for (const panel of panels) renderers[panel]();
}

function renderCounters() {
  $("#msg-count").textContent = String(stats.total);
  $("#last-seq").textContent = lastSeq ? String(lastSeq) : "–";
}

/** Once a second: the messages of the past second and their mean and worst latency. */
function renderRates() {
  $("#msg-rate").textContent = String(stats.inSecond);
  $("#latency").textContent = stats.latencyCount
    ? `${Math.round(stats.latencySumMs / stats.latencyCount)} ms`
    : "–";
  $("#latency").title = stats.latencyCount
    ? `mean over the last second; worst ${Math.round(stats.latencyMaxMs)} ms`
    : "";
  Object.assign(stats, { inSecond: 0, latencySumMs: 0, latencyCount: 0, latencyMaxMs: -Infinity });
}

function renderMarkets() {
  const tbody = $("#markets");
  for (const market of markets.values()) {
    if (!market.row) market.row = insertMarketRow(tbody, market);
    if (market.dirty) {
      fillMarketRow(market);
      market.dirty = false;
    }
    market.row.setAttribute("aria-selected", String(isSelectedExactly(market)));
  }
  $("#markets-empty").hidden = markets.size > 0;
}

const isSelectedExactly = (market) =>
  selected !== null && selected.symbol === market.symbol && selected.venue === market.venue;

/** A new row, kept in symbol then venue order. */
function insertMarketRow(tbody, market) {
  const row = document.createElement("tr");
  row.id = `market-${market.venue ? `${market.venue}-` : ""}${market.symbol}`.replace(
    /[^\w-]/g,
    "_",
  );
  row.dataset.symbol = market.symbol;
  row.dataset.venue = market.venue;
  for (const name of ["symbol", "venue", "price", "change", "bid", "ask"]) {
    const cell = row.insertCell();
    cell.className = name === "symbol" || name === "venue" ? name : `${name} num`;
  }
  row.cells[0].textContent = market.symbol;
  row.cells[1].textContent = market.venue || "–";
  row.addEventListener("click", () => select(market.venue, market.symbol));
  const before = [...tbody.rows].find(
    (other) =>
      `${other.dataset.symbol}|${other.dataset.venue}` > `${market.symbol}|${market.venue}`,
  );
  tbody.insertBefore(row, before ?? null);
  return row;
}

function fillMarketRow(market) {
  const [, , priceCell, changeCell, bidCell, askCell] = market.row.cells;
  const { price, price_change_24h: change, price_change_percent_24h: percent, bid, ask } =
    market.quote;
  const shown = formatPrice(price);
  if (priceCell.textContent !== shown) {
    const previous = Number(priceCell.dataset.value);
    priceCell.textContent = shown;
    priceCell.dataset.value = String(price);
    if (Number.isFinite(previous)) flash(priceCell, price >= previous ? "up" : "down");
  }
  changeCell.textContent = Number.isFinite(percent)
    ? `${signed(percent, (value) => value.toFixed(2))} %`
    : "–";
  changeCell.classList.toggle("up", percent > 0);
  changeCell.classList.toggle("down", percent < 0);
  changeCell.title = Number.isFinite(change) ? signed(change, formatPrice) : "";
  bidCell.textContent = formatPrice(bid);
  askCell.textContent = formatPrice(ask);
}

function flash(cell, direction) {
  cell.classList.remove("flash-up", "flash-down");
  void cell.offsetWidth; // restarts the animation
  cell.classList.add(`flash-${direction}`);
}

function renderBook() {
  const book = forSelection(books);
  $("#book-title").textContent = selected ? `Book · ${selectionLabel()}` : "Book";
  const sides = $("#book");
  sides.dataset.valid = book ? String(book.is_valid) : "";
  const reason = $("#book-reason");
  reason.hidden = !book || book.is_valid;
  reason.textContent = book && !book.is_valid ? `invalid: ${book.reason ?? "unknown reason"}` : "";
  fillLevels($("#bids"), book?.bids ?? []);
  fillLevels($("#asks"), book?.asks ?? []);
}

function fillLevels(tbody, levels) {
  tbody.replaceChildren(
    ...levels.slice(0, BOOK_LEVELS).map(([price, quantity]) =>
      tableRow([formatPrice(price), "num"], [formatQuantity(quantity), "num"]),
    ),
  );
}

function renderTrades() {
  $("#trades").replaceChildren(...trades.map(tradeRow));
}

function tradeRow(trade) {
  const executed = trade.kind === "executed";
  const side = String(trade.side ?? "").toUpperCase();
  const row = tableRow(
    [formatTime(trade.timestamp), "time"],
    [trade.symbol, "symbol"],
    [trade.venue ?? "–", "venue"],
    [side, /^(BUY|LONG)$/.test(side) ? "up" : /^(SELL|SHORT)$/.test(side) ? "down" : ""],
    [formatPrice(trade.price), "num"],
    [formatQuantity(trade.quantity), "num"],
  );
  row.dataset.seq = String(trade.seq);
  if (executed) {
    row.className = "executed";
    const tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = Number.isFinite(trade.pnl)
      ? `executed · PnL ${signed(trade.pnl, (value) => value.toFixed(2))}`
      : "executed";
    row.cells[1].append(tag);
  }
  return row;
}

function tableRow(...cells) {
  const row = document.createElement("tr");
  for (const [text, className] of cells) {
    const cell = row.insertCell();
    cell.textContent = text;
    if (className) cell.className = className;
  }
  return row;
}

// ---- candlestick chart -------------------------------------------------------------------------

const CANDLE_SLOT_PX = 9;
const AXIS_WIDTH_PX = 76;
const AXIS_HEIGHT_PX = 20;

function renderChart() {
  const series = forSelection(charts);
  const candles = series?.byTimeframe[timeframe] ?? [];
  $("#chart-title").textContent = selected ? `${selectionLabel()} · ${timeframe}` : "Chart";
  drawCandles($("#chart"), candles);
}

function drawCandles(canvas, allCandles) {
  const ctx = sizedContext(canvas);
  const { width, height } = canvas.getBoundingClientRect();
  const colors = themeColors();
  ctx.clearRect(0, 0, width, height);
  ctx.font = `11px ${colors.mono}`;
  const plot = { x: 0, y: 8, w: width - AXIS_WIDTH_PX, h: height - AXIS_HEIGHT_PX - 8 };
  const candles = allCandles.slice(-Math.max(1, Math.floor(plot.w / CANDLE_SLOT_PX)));
  canvas.dataset.candles = String(candles.length);
  if (!candles.length) {
    ctx.fillStyle = colors.muted;
    ctx.textAlign = "center";
    const waitingFor = selected ? `${timeframe} candles of ${selectionLabel()}` : "a symbol";
    ctx.fillText(`Waiting for ${waitingFor}…`, width / 2, height / 2);
    return;
  }

  let low = Math.min(...candles.map((c) => c.low));
  let high = Math.max(...candles.map((c) => c.high));
  const pad = (high - low) * 0.08 || Math.abs(high) * 0.001 || 1;
  low -= pad;
  high += pad;
  const y = (price) => plot.y + ((high - price) / (high - low)) * plot.h;
  const x = (i) => plot.x + plot.w - (candles.length - i - 0.5) * CANDLE_SLOT_PX;

  drawPriceAxis(ctx, plot, low, high, y, colors);
  drawTimeAxis(ctx, plot, candles, x, colors);
  candles.forEach((candle, i) => {
    const color = candle.close >= candle.open ? colors.up : colors.down;
    const cx = Math.round(x(i)) + 0.5;
    ctx.strokeStyle = ctx.fillStyle = color;
    ctx.beginPath();
    ctx.moveTo(cx, y(candle.high));
    ctx.lineTo(cx, y(candle.low));
    ctx.stroke();
    const top = y(Math.max(candle.open, candle.close));
    const bodyHeight = Math.max(1, y(Math.min(candle.open, candle.close)) - top);
    ctx.globalAlpha = candle.is_closed ? 1 : 0.7;
    ctx.fillRect(cx - 3, top, 6, bodyHeight);
    ctx.globalAlpha = 1;
  });
  drawLastPrice(ctx, plot, candles[candles.length - 1], y, colors);
}

/** The 2D context of a canvas whose backing store matches its CSS size and the pixel ratio. */
function sizedContext(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const { width, height } = canvas.getBoundingClientRect();
  const pixelWidth = Math.round(width * ratio);
  const pixelHeight = Math.round(height * ratio);
  if (canvas.width !== pixelWidth || canvas.height !== pixelHeight) {
    canvas.width = pixelWidth;
    canvas.height = pixelHeight;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

function themeColors() {
  const style = getComputedStyle(document.documentElement);
  const read = (name) => style.getPropertyValue(name).trim();
  return {
    up: read("--up"),
    down: read("--down"),
    line: read("--line"),
    muted: read("--muted"),
    text: read("--text"),
    panel: read("--panel"),
    mono: read("--mono"),
  };
}

function drawPriceAxis(ctx, plot, low, high, y, colors) {
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  for (const price of niceTicks(low, high, 6)) {
    const ty = Math.round(y(price)) + 0.5;
    ctx.strokeStyle = colors.line;
    ctx.beginPath();
    ctx.moveTo(plot.x, ty);
    ctx.lineTo(plot.x + plot.w, ty);
    ctx.stroke();
    ctx.fillStyle = colors.muted;
    ctx.fillText(formatPrice(price), plot.x + plot.w + 6, ty);
  }
}

function drawTimeAxis(ctx, plot, candles, x, colors) {
  const every = Math.max(1, Math.ceil(80 / CANDLE_SLOT_PX));
  ctx.fillStyle = colors.muted;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (let i = candles.length - 1; i >= 0; i -= every) {
    ctx.fillText(formatMinutes(candles[i].timestamp), x(i), plot.y + plot.h + 6);
  }
}

function drawLastPrice(ctx, plot, candle, y, colors) {
  const ly = Math.round(y(candle.close)) + 0.5;
  const color = candle.close >= candle.open ? colors.up : colors.down;
  ctx.strokeStyle = color;
  ctx.setLineDash([3, 3]);
  ctx.beginPath();
  ctx.moveTo(plot.x, ly);
  ctx.lineTo(plot.x + plot.w, ly);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = color;
  ctx.fillRect(plot.x + plot.w, ly - 8, AXIS_WIDTH_PX, 16);
  ctx.fillStyle = "#fff";
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  ctx.fillText(formatPrice(candle.close), plot.x + plot.w + 6, ly);
}

/** Round prices (1, 2 or 5 × a power of ten apart) between low and high, about `count` of them. */
function niceTicks(low, high, count) {
  const rough = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough);
  const ticks = [];
  for (let tick = Math.ceil(low / step) * step; tick <= high; tick += step) ticks.push(tick);
  return ticks;
}

// ---- formatting --------------------------------------------------------------------------------

const priceFormats = new Map();
const quantityFormat = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 8 });
const timeFormat = new Intl.DateTimeFormat("en-GB", {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const minuteFormat = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit" });

/** Two decimals for large prices, more for small ones. */
function formatPrice(price) {
  if (!Number.isFinite(price)) return "–";
  const size = Math.abs(price);
  const digits = size >= 1000 ? 2 : size >= 1 ? 4 : size >= 0.01 ? 6 : 8;
  if (!priceFormats.has(digits)) {
    priceFormats.set(
      digits,
      new Intl.NumberFormat("en-US", {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      }),
    );
  }
  return priceFormats.get(digits).format(price);
}

const formatQuantity = (quantity) =>
  Number.isFinite(quantity) ? quantityFormat.format(quantity) : "–";
const signed = (value, format) => `${value > 0 ? "+" : ""}${format(value)}`;
const formatTime = (ms) => (Number.isFinite(ms) ? timeFormat.format(ms) : "–");
const formatMinutes = (ms) => minuteFormat.format(ms);
const formatSeconds = (ms) => `${(ms / 1000).toFixed(ms < 1000 ? 1 : 0)} s`;

// ---- toasts ------------------------------------------------------------------------------------

/** A note in the corner for a few seconds; a click dismisses it. */
function toast(kind, title, text, code = "") {
  const container = $("#toasts");
  const note = document.createElement("div");
  note.className = `toast ${kind}`;
  note.dataset.code = code;
  const heading = document.createElement("strong");
  heading.textContent = title;
  note.append(heading, text);
  note.addEventListener("click", () => note.remove());
  container.append(note);
  while (container.children.length > MAX_TOASTS) container.firstElementChild.remove();
  setTimeout(() => note.remove(), TOAST_MS);
}

// ---- start -------------------------------------------------------------------------------------

function bindControls() {
  $("#retry").addEventListener("click", connect);
  for (const button of document.querySelectorAll("#timeframes button")) {
    button.addEventListener("click", () => {
      timeframe = button.dataset.timeframe;
      for (const other of document.querySelectorAll("#timeframes button")) {
        other.setAttribute("aria-pressed", String(other === button));
      }
      schedule("chart");
    });
  }
  new ResizeObserver(() => schedule("chart")).observe($(".chart-area"));
  matchMedia("(prefers-color-scheme: light)").addEventListener("change", () => schedule("chart"));
}

async function start() {
  bindControls();
  setInterval(renderRates, 1000);
  await loadConfig();
  schedule("chart", "book");
  if (config.realtime) connect();
  else setState("disconnected", "Real-time updates are off");
}

start();
