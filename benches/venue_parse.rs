//! Each venue adapter's hot path: [`Adapter::parse`] of one data message into normalized
//! [`Event`]s, in ns/message, per venue and channel, against `serde_json`'s DOM on the same bytes.
//!
//! # What is measured
//!
//! Seventeen message kinds, shaped as the fixtures in `tests/fixtures/<venue>/` but compact, as the
//! venues send them: Binance `trade`, `bookTicker`, `depthUpdate` (1 to 10 levels a side) and
//! `24hrTicker`; Bybit spot `publicTrade` (1 to 3 trades), `orderbook.50` deltas (1 to 10 levels
//! a side) and `tickers`; OKX `trades`, `bbo-tbt`, `books` updates (1 to 10 levels a side) and
//! `tickers`; Coinbase `market_trades` (1 or 2 trades), `l2_data` updates (1 to 4) and `ticker`;
//! Kraken v2 `trade`, `book` updates and `ticker`. Each kind has a pool of 1,000 messages over
//! five markets with varied prices, quantities, ids, times and lengths; each iteration takes the
//! next, so neither caches nor branch predictors replay one message.
//!
//! - `venue_parse/<kind>/adapter`: the venue's adapter (from [`tickwire::venues::adapter`], one
//!   per kind, its market cache warm) parses the message into a reused `Vec<Event>`, cleared each
//!   iteration: the JSON, the decimals, the times, the market lookup and the events' allocation.
//! - `venue_parse/<kind>/dom_value`: `serde_json::from_slice::<serde_json::Value>` on the same
//!   bytes, what a naive adapter would start with (before reading a single field out of it).
//!
//! Before timing, every message of every pool must parse to at least one event, so no row can
//! be timing an error path. After the run the bench prints the table below from criterion's
//! medians (rows only for benchmarks that ran in this process).
//!
//! # Results
//!
//! Target: a Binance trade under 300 ns. Result: **353 ns, not met** (about 18 % over; the
//! `json_parsers` bench put `serde_json` alone at 185 ns on a quiet machine, and the DOM here took
//! 672 ns against 645 there, so this run was a few percent slow at most). A profile of
//! `binance_trade/adapter` (`perf record`, flat, at `8643460`): `serde_json` (string scanning,
//! integers, keys) about 60 % of samples, `Decimal::parse` 5 %, `MarketCache::get` 4 % plus
//! 2.5 % of `SipHash` (it hashes the symbol twice: `contains_key`, then the index), the UTF-8
//! check 3 %.
//!
//! `cargo bench --bench venue_parse -- --warm-up-time 1 --measurement-time 3` at `eb9c5ae`;
//! ns/message, criterion's median, as the bench prints it. The machine has 2 cores of a
//! virtualized Xeon shared with other builds (load 2.7 to 3.3 during the run): two earlier runs
//! under the same load, on the adapters before `3a48549` (which changed how they all read JSON),
//! differed between themselves by up to 80 % on a row (`okx_tickers` 1,044 then 1,898 ns), so
//! read single rows as ±15 % at best. `events` is events per message (Coinbase and Kraken
//! tickers give a BBO and a ticker each).
//!
//! | kind                     | bytes | events | adapter ns | DOM `Value` ns | adapter / DOM |
//! |--------------------------|------:|-------:|-----------:|---------------:|--------------:|
//! | `binance_trade`          |   167 |   1.00 |    **353** |            672 |          0.53 |
//! | `binance_book_ticker`    |   130 |   1.00 |        296 |            518 |          0.57 |
//! | `binance_depth_update`   |   372 |   1.00 |      1,042 |          2,152 |          0.48 |
//! | `binance_24hr_ticker`    |   383 |   1.00 |        774 |          1,794 |          0.43 |
//! | `bybit_public_trade`     |   395 |   1.99 |        993 |          1,552 |          0.64 |
//! | `bybit_orderbook_delta`  |   391 |   1.00 |      1,463 |          1,992 |          0.73 |
//! | `bybit_tickers`          |   315 |   1.00 |        629 |          1,200 |          0.52 |
//! | `okx_trades`             |   205 |   1.00 |        552 |            882 |          0.63 |
//! | `okx_bbo_tbt`            |   178 |   1.00 |        613 |          1,038 |          0.59 |
//! | `okx_books_update`       |   494 |   1.00 |      1,909 |          2,929 |          0.65 |
//! | `okx_tickers`            |   377 |   1.00 |        920 |          1,448 |          0.64 |
//! | `coinbase_market_trades` |   351 |   1.53 |        525 |          1,157 |          0.45 |
//! | `coinbase_level2_update` |   437 |   1.00 |        663 |          1,423 |          0.47 |
//! | `coinbase_ticker`        |   464 |   2.00 |        696 |          1,536 |          0.45 |
//! | `kraken_trade`           |   190 |   1.00 |        551 |            728 |          0.76 |
//! | `kraken_book_update`     |   186 |   1.00 |        676 |            769 |          0.88 |
//! | `kraken_ticker`          |   286 |   2.00 |        905 |          1,085 |          0.83 |
//!
//! Every adapter beats the DOM; Kraken by the least. Its DOM is cheap (numbers become `f64`,
//! with no string to allocate), while the adapter reads the message twice (an envelope holding
//! `data` as a `RawValue`, then `data` again, as Bybit and OKX also do; Binance routes on the
//! stream name in the first bytes and deserializes once), allocates a `Vec` per array (`data`,
//! each book side read, each side written) and, for books, looks the pair's precision up in a
//! second map. OKX books are the slowest message per level: four strings per level.

use std::{
    hint::black_box,
    path::{Path, PathBuf},
    time::SystemTime,
};

use criterion::{Criterion, Throughput};
use tickwire::{
    model::{InstrumentKind, Venue},
    venues::adapter,
};

/// Messages per kind.
const POOL: usize = 1_000;

/// xorshift64*: deterministic, so every run measures the same pools.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A count from `low` to `high`, both included.
    fn count(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }
}

/// Base asset, a typical price in ticks, and the tick's decimals.
const MARKETS: [(&str, u64, u32); 5] =
    [("BTC", 9_712_345, 2), ("ETH", 341_057, 2), ("SOL", 18_934, 2), ("XRP", 21_873, 4), ("DOGE", 31_245, 5)];

/// One market of a message: its base asset and a price near its typical one.
struct Market {
    base: &'static str,
    ticks: u64,
    decimals: u32,
}

impl Market {
    fn pick(rng: &mut Rng) -> Self {
        let (base, typical, decimals) =
            MARKETS[usize::try_from(rng.below(MARKETS.len() as u64)).expect("small")];
        let spread = typical / 100;
        Self { base, ticks: typical - spread + rng.below(2 * spread), decimals }
    }

    fn lower(&self) -> String {
        self.base.to_lowercase()
    }

    /// The price `offset` ticks away (signed), every decimal written out.
    fn price(&self, offset: i64) -> String {
        fixed(self.ticks.saturating_add_signed(offset), self.decimals)
    }

    /// As [`price`](Self::price), trailing zeros dropped (OKX, Kraken).
    fn short_price(&self, offset: i64) -> String {
        trimmed(&self.price(offset))
    }
}

/// `units` × 10^-`decimals`, every decimal written out.
fn fixed(units: u64, decimals: u32) -> String {
    let scale = 10_u64.pow(decimals);
    let width = decimals as usize;
    format!("{}.{:0width$}", units / scale, units % scale)
}

/// `text` without the trailing zeros of its fraction (`"8477.50"` → `"8477.5"`, `"8477.00"` →
/// `"8477"`).
fn trimmed(text: &str) -> String {
    if !text.contains('.') {
        return text.to_owned();
    }
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A quantity with 6 decimals, mostly small, sometimes zero (a deleted book level).
fn qty(rng: &mut Rng, zero_percent: u64) -> String {
    if rng.chance(zero_percent) {
        return "0".to_owned();
    }
    let most = if rng.chance(80) { 50_000 } else { 5_000_000 };
    fixed(1 + rng.below(most), 6)
}

/// Binance writes quantities with 8 decimals.
fn qty8(rng: &mut Rng, zero_percent: u64) -> String {
    let text = qty(rng, zero_percent);
    if text == "0" { "0.00000000".to_owned() } else { format!("{text}00") }
}

fn time_ms(rng: &mut Rng, n: u64) -> u64 {
    1_764_000_000_000 + n * 97 + rng.below(50)
}

/// An RFC 3339 time with `digits` fractional digits (Coinbase writes 6 or 9, Kraken 6).
fn rfc3339(rng: &mut Rng, n: u64, digits: usize) -> String {
    let seconds = n / 10;
    let fraction = rng.below(10_u64.pow(u32::try_from(digits).expect("small")));
    format!(
        "2025-11-24T{:02}:{:02}:{:02}.{fraction:0digits$}Z",
        10 + seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// `count` levels walking away from the market's price: up for asks, down for bids.
fn levels(rng: &mut Rng, market: &Market, ask: bool, count: u64, zero_percent: u64) -> Vec<(String, String)> {
    let mut offset = 0_i64;
    (0..count)
        .map(|_| {
            let step = 1 + i64::try_from(rng.below(5)).expect("small");
            offset += if ask { step } else { -step };
            (market.price(offset), qty(rng, zero_percent))
        })
        .collect()
}

/// `[["p","q"],…]`, with `extra` appended inside each level (OKX's `"0","2"`).
fn string_levels(levels: &[(String, String)], extra: &str) -> String {
    let items: Vec<String> =
        levels.iter().map(|(price, qty)| format!(r#"["{price}","{qty}"{extra}]"#)).collect();
    format!("[{}]", items.join(","))
}

// ---------------------------------------------------------------------------------------------
// Binance spot, combined streams.

fn binance_trade(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    let event_ms = time_ms(rng, n);
    format!(
        r#"{{"stream":"{lower}usdt@trade","data":{{"e":"trade","E":{event_ms},"s":"{base}USDT","t":{id},"p":"{price}","q":"{qty}","T":{trade_ms},"m":{maker},"M":true}}}}"#,
        lower = market.lower(),
        base = market.base,
        id = 5_000_000_000 + n * 7 + rng.below(7),
        price = fixed(market.ticks * 10_u64.pow(8 - market.decimals), 8),
        qty = qty8(rng, 0),
        trade_ms = event_ms - rng.below(3),
        maker = rng.chance(50),
    )
}

fn binance_book_ticker(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    format!(
        r#"{{"stream":"{lower}usdt@bookTicker","data":{{"u":{id},"s":"{base}USDT","b":"{bid}","B":"{bid_qty}","a":"{ask}","A":"{ask_qty}"}}}}"#,
        lower = market.lower(),
        base = market.base,
        id = 400_900_217 + n * 3,
        bid = market.price(0),
        bid_qty = qty8(rng, 0),
        ask = market.price(1 + i64::try_from(rng.below(3)).expect("small")),
        ask_qty = qty8(rng, 0),
    )
}

fn binance_depth(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    let first = 7_000_000_000 + n * 40;
    let (bid_count, ask_count) = (rng.count(1, 10), rng.count(1, 10));
    format!(
        r#"{{"stream":"{lower}usdt@depth@100ms","data":{{"e":"depthUpdate","E":{ms},"s":"{base}USDT","U":{first},"u":{last},"b":{bids},"a":{asks}}}}}"#,
        lower = market.lower(),
        base = market.base,
        ms = time_ms(rng, n),
        last = first + rng.below(30),
        bids = string_levels(&levels(rng, &market, false, bid_count, 15), ""),
        asks = string_levels(&levels(rng, &market, true, ask_count, 15), ""),
    )
}

fn binance_ticker(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    let ms = time_ms(rng, n);
    let open = market.ticks - market.ticks / 40 + rng.below(market.ticks / 20);
    let change = i64::try_from(market.ticks).expect("small") - i64::try_from(open).expect("small");
    let sign = if change < 0 { "-" } else { "" };
    format!(
        r#"{{"stream":"{lower}usdt@ticker","data":{{"e":"24hrTicker","E":{ms},"s":"{base}USDT","p":"{sign}{change}","P":"{sign}{pct}","w":"{w}","x":"{o}","c":"{c}","Q":"{q1}","b":"{b}","B":"{q2}","a":"{a}","A":"{q3}","o":"{o}","h":"{h}","l":"{l}","v":"{v}","q":"{qv}","O":{from},"C":{ms},"F":{first},"L":{last},"n":{count}}}}}"#,
        lower = market.lower(),
        base = market.base,
        change = fixed(change.unsigned_abs(), market.decimals),
        pct = fixed(change.unsigned_abs() * 100_000 / open, 3),
        w = market.price(-3),
        o = fixed(open, market.decimals),
        c = market.price(0),
        q1 = qty8(rng, 0),
        b = market.price(-1),
        q2 = qty8(rng, 0),
        a = market.price(1),
        q3 = qty8(rng, 0),
        h = market.price(i64::try_from(market.ticks / 30).expect("small")),
        l = market.price(-i64::try_from(market.ticks / 30).expect("small")),
        v = fixed(1_000_000_000 + rng.below(1_000_000_000), 8),
        qv = fixed(1_000_000_000_000 + rng.below(1_000_000_000_000), 8),
        from = ms - 86_400_000,
        first = 3_000_000 + n * 11,
        last = 3_100_000 + n * 11,
        count = 100_001 + rng.below(1000),
    )
}

// ---------------------------------------------------------------------------------------------
// Bybit v5 spot.

fn bybit_trade(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    let ms = time_ms(rng, n);
    let trades: Vec<String> = (0..rng.count(1, 3))
        .map(|k| {
            format!(
                r#"{{"T":{ms},"s":"{base}USDT","S":"{side}","v":"{qty}","p":"{price}","L":"PlusTick","i":"{a:08x}-{b:04x}-5b31-9112-{c:012x}","BT":false,"seq":{seq}}}"#,
                base = market.base,
                side = if rng.chance(50) { "Buy" } else { "Sell" },
                qty = qty(rng, 0),
                price = market.price(i64::try_from(k).expect("small")),
                a = rng.below(1 << 32),
                b = rng.below(1 << 16),
                c = rng.below(1 << 48),
                seq = 1_783_284_617 + n * 4 + k,
            )
        })
        .collect();
    format!(
        r#"{{"topic":"publicTrade.{base}USDT","type":"snapshot","ts":{ts},"data":[{trades}]}}"#,
        base = market.base,
        ts = ms + 3,
        trades = trades.join(","),
    )
}

fn bybit_book(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    let ms = time_ms(rng, n);
    let (bid_count, ask_count) = (rng.count(1, 10), rng.count(1, 10));
    format!(
        r#"{{"topic":"orderbook.50.{base}USDT","type":"delta","ts":{ts},"data":{{"s":"{base}USDT","b":{bids},"a":{asks},"u":{u},"seq":{seq}}},"cts":{ms}}}"#,
        base = market.base,
        ts = ms + 2,
        bids = string_levels(&levels(rng, &market, false, bid_count, 15), ""),
        asks = string_levels(&levels(rng, &market, true, ask_count, 15), ""),
        u = 177_400_507 + n,
        seq = 66_544_703_342 + n * 9,
    )
}

fn bybit_ticker(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    let percent = rng.below(400);
    format!(
        r#"{{"topic":"tickers.{base}USDT","ts":{ms},"type":"snapshot","cs":{cs},"data":{{"symbol":"{base}USDT","lastPrice":"{last}","highPrice24h":"{high}","lowPrice24h":"{low}","prevPrice24h":"{prev}","volume24h":"{volume}","turnover24h":"{turnover}","price24hPcnt":"{sign}{pct}","usdIndexPrice":"{index}"}}}}"#,
        base = market.base,
        ms = time_ms(rng, n),
        cs = 2_588_407_389 + n,
        last = market.price(0),
        high = market.price(200),
        low = market.price(-200),
        prev = market.price(-i64::try_from(rng.below(100)).expect("small")),
        volume = fixed(1_000_000_000 + rng.below(1_000_000_000), 6),
        turnover = fixed(100_000_000_000 + rng.below(100_000_000_000), 8),
        sign = if rng.chance(40) { "-" } else { "" },
        pct = fixed(percent, 4),
        index = trimmed(&fixed(market.ticks * 100_000 + rng.below(100_000), market.decimals + 5)),
    )
}

// ---------------------------------------------------------------------------------------------
// OKX v5 public, spot markets.

fn okx_trade(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    format!(
        r#"{{"arg":{{"channel":"trades","instId":"{base}-USDT"}},"data":[{{"instId":"{base}-USDT","tradeId":"{id}","px":"{price}","sz":"{qty}","side":"{side}","ts":"{ms}","count":"{count}","source":"0","seqId":{seq}}}]}}"#,
        base = market.base,
        id = 130_639_474 + n * 3,
        price = market.short_price(0),
        qty = trimmed(&qty(rng, 0)),
        side = if rng.chance(50) { "buy" } else { "sell" },
        ms = time_ms(rng, n),
        count = rng.count(1, 5),
        seq = 1234 + n,
    )
}

fn okx_bbo(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    format!(
        r#"{{"arg":{{"channel":"bbo-tbt","instId":"{base}-USDT"}},"data":[{{"asks":[["{ask}","{ask_qty}","0","{ask_orders}"]],"bids":[["{bid}","{bid_qty}","0","{bid_orders}"]],"ts":"{ms}","seqId":{seq}}}]}}"#,
        base = market.base,
        ask = market.short_price(1),
        ask_qty = trimmed(&qty(rng, 0)),
        ask_orders = rng.count(1, 9),
        bid = market.short_price(0),
        bid_qty = trimmed(&qty(rng, 0)),
        bid_orders = rng.count(1, 9),
        ms = time_ms(rng, n),
        seq = 363_996_337 + n,
    )
}

fn okx_book(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    let (bid_count, ask_count) = (rng.count(1, 10), rng.count(1, 10));
    let short = |levels: Vec<(String, String)>| -> Vec<(String, String)> {
        levels.into_iter().map(|(price, qty)| (trimmed(&price), trimmed(&qty))).collect()
    };
    let asks = short(levels(rng, &market, true, ask_count, 15));
    let bids = short(levels(rng, &market, false, bid_count, 15));
    format!(
        r#"{{"arg":{{"channel":"books","instId":"{base}-USDT"}},"action":"update","data":[{{"asks":{asks},"bids":{bids},"ts":"{ms}","checksum":{checksum},"prevSeqId":{prev},"seqId":{seq}}}]}}"#,
        base = market.base,
        asks = string_levels(&asks, r#","0","1""#),
        bids = string_levels(&bids, r#","0","2""#),
        ms = time_ms(rng, n),
        checksum = i64::try_from(rng.below(1 << 32)).expect("small") - (1 << 31),
        prev = 123_456 + n * 2,
        seq = 123_457 + n * 2,
    )
}

fn okx_ticker(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    format!(
        r#"{{"arg":{{"channel":"tickers","instId":"{base}-USDT"}},"data":[{{"instType":"SPOT","instId":"{base}-USDT","last":"{last}","lastSz":"{last_qty}","askPx":"{ask}","askSz":"{ask_qty}","bidPx":"{bid}","bidSz":"{bid_qty}","open24h":"{open}","high24h":"{high}","low24h":"{low}","volCcy24h":"{quote_volume}","vol24h":"{volume}","sodUtc0":"{sod0}","sodUtc8":"{sod8}","ts":"{ms}"}}]}}"#,
        base = market.base,
        last = market.short_price(0),
        last_qty = trimmed(&qty(rng, 0)),
        ask = market.short_price(1),
        ask_qty = trimmed(&qty(rng, 0)),
        bid = market.short_price(0),
        bid_qty = trimmed(&qty(rng, 0)),
        open = market.short_price(-i64::try_from(rng.below(300)).expect("small")),
        high = market.short_price(300),
        low = market.short_price(-300),
        quote_volume = trimmed(&fixed(100_000_000_000 + rng.below(100_000_000_000), 6)),
        volume = trimmed(&fixed(1_000_000_000 + rng.below(1_000_000_000), 6)),
        sod0 = market.short_price(-50),
        sod8 = market.short_price(-20),
        ms = time_ms(rng, n),
    )
}

// ---------------------------------------------------------------------------------------------
// Coinbase Advanced Trade.

fn coinbase_trade(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    let trades: Vec<String> = (0..rng.count(1, 2))
        .map(|k| {
            format!(
                r#"{{"trade_id":"{id}","product_id":"{base}-USD","price":"{price}","size":"{size}","side":"{side}","time":"{time}"}}"#,
                id = 594_838_363 + n * 2 - k,
                base = market.base,
                price = market.price(-i64::try_from(k).expect("small")),
                size = trimmed(&qty(rng, 0)),
                side = if rng.chance(50) { "BUY" } else { "SELL" },
                time = rfc3339(rng, n, 6),
            )
        })
        .collect();
    format!(
        r#"{{"channel":"market_trades","client_id":"","timestamp":"{timestamp}","sequence_num":{n},"events":[{{"type":"update","trades":[{trades}]}}]}}"#,
        timestamp = rfc3339(rng, n, 9),
        trades = trades.join(","),
    )
}

fn coinbase_level2(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    let updates: Vec<String> = (0..rng.count(1, 4))
        .map(|k| {
            let bid = rng.chance(50);
            let offset = 1 + i64::try_from(k).expect("small");
            format!(
                r#"{{"side":"{side}","event_time":"{time}","price_level":"{price}","new_quantity":"{qty}"}}"#,
                side = if bid { "bid" } else { "offer" },
                time = rfc3339(rng, n, 6),
                price = market.price(if bid { -offset } else { offset }),
                qty = trimmed(&qty(rng, 15)),
            )
        })
        .collect();
    format!(
        r#"{{"channel":"l2_data","client_id":"","timestamp":"{timestamp}","sequence_num":{n},"events":[{{"type":"update","product_id":"{base}-USD","updates":[{updates}]}}]}}"#,
        timestamp = rfc3339(rng, n, 9),
        base = market.base,
        updates = updates.join(","),
    )
}

fn coinbase_ticker(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    format!(
        r#"{{"channel":"ticker","client_id":"","timestamp":"{timestamp}","sequence_num":{n},"events":[{{"type":"update","tickers":[{{"type":"ticker","product_id":"{base}-USD","price":"{price}","volume_24_h":"{volume}","low_24_h":"{low}","high_24_h":"{high}","low_52_w":"{low52}","high_52_w":"{high52}","price_percent_chg_24_h":"{sign}{pct}","best_bid":"{bid}","best_bid_quantity":"{bid_qty}","best_ask":"{ask}","best_ask_quantity":"{ask_qty}"}}]}}]}}"#,
        timestamp = rfc3339(rng, n, 9),
        base = market.base,
        price = market.price(0),
        volume = fixed(1_000_000_000_000 + rng.below(1_000_000_000_000), 8),
        low = market.price(-300),
        high = market.price(300),
        low52 = market.price(-i64::try_from(market.ticks / 2).expect("small")),
        high52 = market.price(i64::try_from(market.ticks / 2).expect("small")),
        sign = if rng.chance(40) { "-" } else { "" },
        pct = fixed(rng.below(10_000_000_000_000_000), 14),
        bid = market.price(-1),
        bid_qty = trimmed(&qty(rng, 0)),
        ask = market.price(1),
        ask_qty = trimmed(&qty(rng, 0)),
    )
}

// ---------------------------------------------------------------------------------------------
// Kraken v2: prices and quantities are JSON numbers.

fn kraken_trade(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    format!(
        r#"{{"channel":"trade","type":"update","data":[{{"symbol":"{base}/USD","side":"{side}","price":{price},"qty":{qty},"ord_type":"{ord_type}","trade_id":{id},"timestamp":"{time}"}}]}}"#,
        base = market.base,
        side = if rng.chance(50) { "buy" } else { "sell" },
        price = market.short_price(0),
        qty = trimmed(&qty(rng, 0)),
        ord_type = if rng.chance(80) { "market" } else { "limit" },
        id = 4_665_906 + n,
        time = rfc3339(rng, n, 6),
    )
}

fn kraken_book(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    // Zero or one level a side, never neither, as the fixture's update.
    let bid_count = rng.below(2);
    let ask_count = if bid_count == 0 { 1 } else { rng.below(2) };
    let side = |rng: &mut Rng, ask: bool, count: u64| {
        let items: Vec<String> = levels(rng, &market, ask, count, 20)
            .into_iter()
            .map(|(price, qty)| format!(r#"{{"price":{},"qty":{}}}"#, trimmed(&price), trimmed(&qty)))
            .collect();
        format!("[{}]", items.join(","))
    };
    format!(
        r#"{{"channel":"book","type":"update","data":[{{"symbol":"{base}/USD","bids":{bids},"asks":{asks},"checksum":{checksum},"timestamp":"{time}"}}]}}"#,
        base = market.base,
        bids = side(rng, false, bid_count),
        asks = side(rng, true, ask_count),
        checksum = rng.below(1 << 32),
        time = rfc3339(rng, n, 6),
    )
}

fn kraken_ticker(rng: &mut Rng, n: u64) -> String {
    let market = Market::pick(rng);
    let change = rng.below(market.ticks / 50);
    let sign = if rng.chance(40) { "-" } else { "" };
    format!(
        r#"{{"channel":"ticker","type":"update","data":[{{"symbol":"{base}/USD","bid":{bid},"bid_qty":{bid_qty},"ask":{ask},"ask_qty":{ask_qty},"last":{last},"volume":{volume},"vwap":{vwap},"low":{low},"high":{high},"change":{sign}{change},"change_pct":{sign}{pct},"timestamp":"{time}"}}]}}"#,
        base = market.base,
        bid = market.short_price(-1),
        bid_qty = trimmed(&qty(rng, 0)),
        ask = market.short_price(0),
        ask_qty = trimmed(&qty(rng, 0)),
        last = market.short_price(0),
        volume = trimmed(&fixed(1_000_000_000 + rng.below(1_000_000_000), 8)),
        vwap = market.short_price(-7),
        low = market.short_price(-300),
        high = market.short_price(300),
        change = trimmed(&fixed(change, market.decimals)),
        pct = trimmed(&fixed(change * 10_000 / market.ticks, 2)),
        time = rfc3339(rng, n, 6),
    )
}

// ---------------------------------------------------------------------------------------------
// The run.

/// One message kind: the venue and endpoint whose adapter parses it, and its generator.
struct Kind {
    name: &'static str,
    venue: Venue,
    generate: fn(&mut Rng, u64) -> String,
}

const KINDS: [Kind; 17] = [
    Kind { name: "binance_trade", venue: Venue::Binance, generate: binance_trade },
    Kind { name: "binance_book_ticker", venue: Venue::Binance, generate: binance_book_ticker },
    Kind { name: "binance_depth_update", venue: Venue::Binance, generate: binance_depth },
    Kind { name: "binance_24hr_ticker", venue: Venue::Binance, generate: binance_ticker },
    Kind { name: "bybit_public_trade", venue: Venue::Bybit, generate: bybit_trade },
    Kind { name: "bybit_orderbook_delta", venue: Venue::Bybit, generate: bybit_book },
    Kind { name: "bybit_tickers", venue: Venue::Bybit, generate: bybit_ticker },
    Kind { name: "okx_trades", venue: Venue::Okx, generate: okx_trade },
    Kind { name: "okx_bbo_tbt", venue: Venue::Okx, generate: okx_bbo },
    Kind { name: "okx_books_update", venue: Venue::Okx, generate: okx_book },
    Kind { name: "okx_tickers", venue: Venue::Okx, generate: okx_ticker },
    Kind { name: "coinbase_market_trades", venue: Venue::Coinbase, generate: coinbase_trade },
    Kind { name: "coinbase_level2_update", venue: Venue::Coinbase, generate: coinbase_level2 },
    Kind { name: "coinbase_ticker", venue: Venue::Coinbase, generate: coinbase_ticker },
    Kind { name: "kraken_trade", venue: Venue::Kraken, generate: kraken_trade },
    Kind { name: "kraken_book_update", venue: Venue::Kraken, generate: kraken_book },
    Kind { name: "kraken_ticker", venue: Venue::Kraken, generate: kraken_ticker },
];

/// What the check learned about a pool, for the table.
struct Row {
    name: &'static str,
    mean_bytes: f64,
    events_per_message: f64,
}

fn pool(kind: &Kind) -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (kind.name.len() as u64 * 0x0100_0000_01b3));
    (0..POOL as u64).map(|n| (kind.generate)(&mut rng, n)).collect()
}

fn bench(c: &mut Criterion, kind: &Kind) -> Row {
    let pool = pool(kind);
    let mut adapter = adapter(kind.venue, InstrumentKind::Spot).expect("every venue serves spot");
    let mut events = Vec::new();
    // Also warms the adapter's market cache, as a live connection's would be.
    let mut total_events = 0;
    for message in &pool {
        events.clear();
        match adapter.parse(message.as_bytes(), 1, &mut events) {
            Ok(_) if !events.is_empty() => total_events += events.len(),
            Ok(control) => panic!("{}: no event ({control:?}) from {message}", kind.name),
            Err(error) => panic!("{}: {error}", kind.name),
        }
    }
    let mut group = c.benchmark_group(format!("venue_parse/{}", kind.name));
    group.throughput(Throughput::Elements(1));
    let mut messages = pool.iter().cycle();
    let mut receive_time_ns = 0_u64;
    group.bench_function("adapter", |b| {
        b.iter(|| {
            let message = black_box(messages.next().expect("cycle never ends"));
            receive_time_ns += 1;
            events.clear();
            black_box(adapter.parse(message.as_bytes(), receive_time_ns, &mut events).is_ok());
            black_box(&events);
        });
    });
    group.bench_function("dom_value", |b| {
        b.iter(|| {
            let message = black_box(messages.next().expect("cycle never ends"));
            black_box(serde_json::from_slice::<serde_json::Value>(message.as_bytes()).is_ok());
        });
    });
    group.finish();
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    Row {
        name: kind.name,
        mean_bytes: pool.iter().map(String::len).sum::<usize>() as f64 / POOL as f64,
        events_per_message: total_events as f64 / POOL as f64,
    }
}

/// Where criterion writes its results, found as criterion finds it (less `cargo metadata`).
fn criterion_home() -> PathBuf {
    std::env::var_os("CRITERION_HOME").map_or_else(
        || {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from)
                .join("criterion")
        },
        PathBuf::from,
    )
}

/// The median ns of `venue_parse/<kind>/<function>` if this process measured it.
fn median_ns(kind: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_home().join(format!("venue_parse_{kind}")).join(function).join("new/estimates.json");
    if std::fs::metadata(&path).and_then(|meta| meta.modified()).ok()? < since {
        return None;
    }
    let estimates: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

fn print_table(rows: &[Row], since: SystemTime) {
    let measured: Vec<(&Row, f64, f64)> = rows
        .iter()
        .filter_map(|row| {
            Some((row, median_ns(row.name, "adapter", since)?, median_ns(row.name, "dom_value", since)?))
        })
        .collect();
    if measured.is_empty() {
        return;
    }
    println!("\n| kind                     | bytes | events | adapter ns | DOM `Value` ns | adapter / DOM |");
    println!("|--------------------------|------:|-------:|-----------:|---------------:|--------------:|");
    for (row, adapter, dom) in measured {
        println!(
            "| {:<24} | {:>5.0} | {:>6.2} | {adapter:>10.0} | {dom:>14.0} | {:>13.2} |",
            format!("`{}`", row.name),
            row.mean_bytes,
            row.events_per_message,
            adapter / dom
        );
    }
}

fn main() {
    let since = SystemTime::now();
    let mut criterion = Criterion::default().configure_from_args();
    let rows: Vec<Row> = KINDS.iter().map(|kind| bench(&mut criterion, kind)).collect();
    criterion.final_summary();
    print_table(&rows, since);
}
