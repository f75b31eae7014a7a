//! Which JSON parser the venue adapters use: parse + field extraction per venue and channel, in
//! ns/message, for `serde_json`, `sonic-rs` and `simd-json`.
//!
//! # What is measured
//!
//! Six payload kinds, shaped as `shared/design/PROTOCOLS.md` documents them and compact as the
//! venues send them: Binance combined-stream `trade` (166 bytes on average), `bookTicker` (141)
//! and `depthUpdate` with 8 to 12 levels a side (726); Bybit v5 `publicTrade` with 1 to 3 trades
//! (315); OKX v5 `trades` with 1 or 2 (232) and `books` updates with 10 to 15 levels a side (911).
//! Each kind has a pool of 1,000 messages with varied symbols, prices, quantities, ids, times and
//! lengths; each iteration takes the next, so neither caches nor branch predictors replay one.
//!
//! A parser turns the message, a `&str` (the connection has checked its UTF-8), into what a
//! normalized event needs, with strings borrowed from the message: for a trade the symbol,
//! price, qty, taker side, trade id and trade time; for a BBO both levels and the update id; for
//! a book update the levels as (price, qty) string pairs, the sequence ids, time, checksum and
//! snapshot flag. Times become integers (OKX sends strings); prices stay strings (fixed point is
//! the same work whatever the parser). The routing key (`stream`, `topic`, `arg`) is skipped: the
//! adapter has dispatched on it. Scratch buffers are kept between messages, as an adapter would.
//!
//! The parsers, as `json/<payload>/<parser>` with one element per message:
//! - `serde_json`: `serde_json::from_str` into `#[derive(Deserialize)]` structs of `&'a str`;
//! - `sonic_rs`: the same structs through `sonic_rs::from_str`;
//! - `simd_json`: the same structs through simd-json's serde `Deserializer`: the message is
//!   copied into a padded buffer (the copy is timed), `fill_tape_padded` parses it into a reused
//!   tape. (`simd_json::serde::from_slice_with_buffers` copies it a second time inside and
//!   allocates a tape per call: about 8 % slower on a Binance trade.)
//! - `serde_json_value`: into `serde_json::Value`, the DOM, as a reference point;
//! - `sonic_rs_lazy`: sonic-rs's lazy API, `to_object_iter` over the message and the `LazyValue`s
//!   in it, taking only the wanted fields (`get_many` with a `PointerTree` was tried: 406 ns on a
//!   Binance trade, no better);
//! - `simd_json_tape`: simd-json's tape, read field by field.
//!
//! Before timing, every parser's output is compared with `serde_json`'s on every message of the
//! pool, and every parser must refuse each message cut short by one byte.
//!
//! # Results
//!
//! ns/message, median, on this machine (2 cores of a virtualized Xeon with AVX-512; default
//! target, as a wheel is built); `cargo bench --bench json_parsers -- --warm-up-time 1
//! --measurement-time 2`. A second run agreed within 8 %, in the same order.
//!
//! | payload               | `serde_json` | `sonic_rs` | `simd_json` | DOM `Value` | sonic lazy | simd tape |
//! |-----------------------|-------------:|-----------:|------------:|------------:|-----------:|----------:|
//! | `binance_trade`       |      **185** |        199 |         272 |         645 |        644 |       248 |
//! | `binance_book_ticker` |      **135** |        166 |         212 |         506 |        529 |       203 |
//! | `binance_depth`       |      **823** |        892 |         965 |       2,902 |      3,915 |       995 |
//! | `bybit_public_trade`  |          421 |    **396** |         423 |       1,192 |        967 |       442 |
//! | `okx_trades`          |      **321** |        343 |         396 |       1,007 |        733 |       356 |
//! | `okx_books`           |        1,538 |  **1,397** |       1,676 |       5,179 |      5,333 |     1,614 |
//!
//! Built with `RUSTFLAGS="-C target-cpu=native"` (which gives sonic-rs its AVX2 paths: it picks
//! its SIMD at compile time only) the order and the numbers stayed within noise: Binance trade
//! 198 / 210 / 280 ns for `serde_json` / `sonic_rs` / `simd_json`.
//!
//! # Recommendation: `serde_json` with borrowed, derived structs
//!
//! - Speed: fastest on four kinds, within 10 % of `sonic_rs` on the other two; a Binance trade
//!   takes about 190 ns, which leaves 100 ns of the 300 ns budget for normalization. These
//!   messages are short and dense with keys and numbers, where SIMD buys nothing: `simd-json`'s
//!   two stages cost more than they save on messages under a kilobyte, and `sonic-rs`'s lazy
//!   API skips again what it has already validated.
//! - Borrowed `&str` without allocation: with `serde_json` or `sonic_rs` none for a Binance
//!   trade or BBO (counted), one `Vec` per array of trades or book side. `simd-json` needs the
//!   mutable copy. Only `simd-json` borrows a string holding an escape (it unescapes in place);
//!   the others refuse it into `&str`: a field that may carry one takes `Cow<'a, str>` with
//!   `#[serde(borrow)]`.
//! - Errors: `serde_json` says ``invalid type: floating point `16848.01`, expected a borrowed
//!   string at line 1 column 82`` and ``missing field `t` ``; `sonic-rs` the same plus a
//!   multi-line excerpt of the input; `simd-json` through serde `ExpectedString at character
//!   0`, with no field and no position.
//! - Maintenance: `serde_json` is the ecosystem's default, with 16 lines holding `unsafe` in its
//!   source; `sonic-rs` has about 250 and `simd-json` about 520.
//! - Build weight: `serde_json` brings 4 crates; `sonic-rs` 28 with its build and proc-macro
//!   crates (`ahash`, `bumpalo`, `faststr`, `zerocopy`, ...), `simd-json` 22 (`serde_json` among
//!   them).
//!
//! The same derived structs deserialize with `sonic_rs::from_str`: should large documents (a
//! REST depth snapshot of 5,000 levels, not measured here) favour it, switching is one call.

use std::{borrow::Cow, error::Error, fmt, hint::black_box};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::{
    Deserialize, Deserializer,
    de::{self, IgnoredAny, SeqAccess, Visitor},
};
use simd_json::{
    Tape,
    prelude::{ValueAsScalar, ValueIntoString},
};
use sonic_rs::{JsonValueTrait, LazyValue};

/// Payloads per kind: enough distinct ids, prices and lengths that neither the caches nor the
/// branch predictor see the same message twice in a row.
const POOL: usize = 1_000;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

// ---------------------------------------------------------------------------------------------
// What a normalized event needs: every parser produces these, borrowing from the message.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Buy,
    Sell,
}

#[derive(Debug, PartialEq, Eq)]
enum TradeId<'a> {
    Number(u64),
    Text(&'a str),
}

#[derive(Debug, PartialEq, Eq)]
struct Trade<'a> {
    symbol: &'a str,
    price: &'a str,
    qty: &'a str,
    /// The taker's side.
    side: Side,
    id: TradeId<'a>,
    time_ms: u64,
}

/// One price level as sent: `[price, qty, ...]`; OKX's extra fields are skipped.
#[derive(Debug, PartialEq, Eq)]
struct Level<'a> {
    price: &'a str,
    qty: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
struct Bbo<'a> {
    symbol: &'a str,
    update_id: u64,
    bid: Level<'a>,
    ask: Level<'a>,
}

#[derive(Debug, PartialEq, Eq)]
enum Sequence {
    /// Binance: the first and last update ids in the event.
    Range { first: u64, last: u64 },
    /// OKX: this message's id and the one it follows.
    Chain { prev: i64, seq: i64 },
}

#[derive(Debug, PartialEq, Eq)]
struct BookUpdate<'a> {
    symbol: &'a str,
    snapshot: bool,
    sequence: Sequence,
    time_ms: u64,
    /// `None` when the venue sends none (Binance) or sends 0 (OKX since 2026).
    checksum: Option<i32>,
    bids: Vec<Level<'a>>,
    asks: Vec<Level<'a>>,
}

fn side(taker: &str) -> Res<Side> {
    match taker {
        "Buy" | "buy" => Ok(Side::Buy),
        "Sell" | "sell" => Ok(Side::Sell),
        other => Err(format!("unknown side {other:?}").into()),
    }
}

/// OKX sends times as strings of milliseconds.
fn millis(text: &str) -> Res<u64> {
    Ok(text.parse()?)
}

fn checksum(value: i64) -> Res<Option<i32>> {
    Ok(Some(i32::try_from(value)?).filter(|&sum| sum != 0))
}

impl<'de: 'a, 'a> Deserialize<'de> for Level<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LevelVisitor;

        impl<'de> Visitor<'de> for LevelVisitor {
            type Value = Level<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a [price, qty, ...] array of strings")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Level<'de>, A::Error> {
                let price = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let qty = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Level { price, qty })
            }
        }

        deserializer.deserialize_seq(LevelVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// The document APIs (serde_json's DOM, sonic-rs's lazy view, simd-json's tape) behind one
// interface, so each payload's extraction is written once and each API does its best: one pass
// over an object for all the keys wanted from it, and strings borrowed where the API lets them be
// (the DOM owns copies).

trait Doc<'a>: Sized {
    /// The values under `keys` in this object, in the order of `keys`.
    fn fields<const N: usize>(self, keys: [&str; N]) -> Res<[Self; N]>;
    fn items(self) -> Res<impl Iterator<Item = Res<Self>>>;
    fn str(self) -> Res<&'a str>;
    fn u64(self) -> Res<u64>;
    fn i64(self) -> Res<i64>;
    fn bool(self) -> Res<bool>;
}

fn complete<T, const N: usize>(found: [Option<T>; N], keys: [&str; N]) -> Res<[T; N]> {
    if let Some(missing) = found.iter().position(Option::is_none) {
        return Err(format!("missing field `{}`", keys[missing]).into());
    }
    Ok(found.map(|value| value.expect("checked above")))
}

/// Key comparison inlined: the keys are one to nine bytes, too short for a `memcmp` call.
fn is_key(wanted: &str, key: &str) -> bool {
    wanted.len() == key.len() && wanted.bytes().zip(key.bytes()).all(|(a, b)| a == b)
}

fn expected(what: &str) -> impl FnOnce() -> Box<dyn Error + Send + Sync> + '_ {
    move || format!("expected {what}").into()
}

impl<'a> Doc<'a> for &'a serde_json::Value {
    fn fields<const N: usize>(self, keys: [&str; N]) -> Res<[Self; N]> {
        let object = self.as_object().ok_or_else(expected("an object"))?;
        complete(keys.map(|key| object.get(key)), keys)
    }

    fn items(self) -> Res<impl Iterator<Item = Res<Self>>> {
        Ok(self.as_array().ok_or_else(expected("an array"))?.iter().map(Ok))
    }

    fn str(self) -> Res<&'a str> {
        self.as_str().ok_or_else(expected("a string"))
    }

    fn u64(self) -> Res<u64> {
        self.as_u64().ok_or_else(expected("an unsigned integer"))
    }

    fn i64(self) -> Res<i64> {
        self.as_i64().ok_or_else(expected("an integer"))
    }

    fn bool(self) -> Res<bool> {
        self.as_bool().ok_or_else(expected("a boolean"))
    }
}

/// sonic-rs's lazy view: the message, whose top level is walked (and so validated) once, then
/// the lazy values in it, read without validating them again.
enum Sonic<'a> {
    Message(&'a str),
    Value(LazyValue<'a>),
}

impl<'a> Sonic<'a> {
    fn value(self) -> Res<LazyValue<'a>> {
        match self {
            Self::Value(value) => Ok(value),
            Self::Message(_) => Err("expected a value, found the message".into()),
        }
    }
}

impl<'a> Doc<'a> for Sonic<'a> {
    fn fields<const N: usize>(self, keys: [&str; N]) -> Res<[Self; N]> {
        let (entries, whole) = match self {
            Self::Message(json) => (sonic_rs::to_object_iter(json), true),
            Self::Value(value) => (value.into_object_iter().ok_or_else(expected("an object"))?, false),
        };
        let mut found = [const { None }; N];
        let mut missing = N;
        for entry in entries {
            let (key, value) = entry?;
            if let Some(slot) = keys.iter().position(|wanted| is_key(wanted, &key)) {
                if found[slot].replace(Self::Value(value)).is_none() {
                    missing -= 1;
                }
                if missing == 0 && !whole {
                    break;
                }
            }
        }
        complete(found, keys)
    }

    fn items(self) -> Res<impl Iterator<Item = Res<Self>>> {
        let items = self.value()?.into_array_iter().ok_or_else(expected("an array"))?;
        Ok(items.map(|item| Ok(Self::Value(item?))))
    }

    /// The lazy API hands out `&str` tied to the `LazyValue`; the raw text is tied to the
    /// message, so the string is cut from it (escaped strings are refused, as by serde's `&str`).
    fn str(self) -> Res<&'a str> {
        let Cow::Borrowed(raw) = self.value()?.as_raw_cow() else {
            return Err("expected a borrowed string".into());
        };
        raw.strip_prefix('"')
            .and_then(|text| text.strip_suffix('"'))
            .filter(|text| !text.contains('\\'))
            .ok_or_else(expected("a string without escapes"))
    }

    fn u64(self) -> Res<u64> {
        self.value()?.as_u64().ok_or_else(expected("an unsigned integer"))
    }

    fn i64(self) -> Res<i64> {
        self.value()?.as_i64().ok_or_else(expected("an integer"))
    }

    fn bool(self) -> Res<bool> {
        self.value()?.as_bool().ok_or_else(expected("a boolean"))
    }
}

impl<'a> Doc<'a> for simd_json::tape::Value<'_, 'a> {
    fn fields<const N: usize>(self, keys: [&str; N]) -> Res<[Self; N]> {
        let mut found = [None; N];
        let mut missing = N;
        for (key, value) in &self.as_object().ok_or_else(expected("an object"))? {
            if let Some(slot) = keys.iter().position(|wanted| is_key(wanted, key)) {
                if found[slot].replace(value).is_none() {
                    missing -= 1;
                }
                if missing == 0 {
                    break;
                }
            }
        }
        complete(found, keys)
    }

    fn items(self) -> Res<impl Iterator<Item = Res<Self>>> {
        Ok(self.as_array().ok_or_else(expected("an array"))?.iter().map(Ok))
    }

    fn str(self) -> Res<&'a str> {
        self.into_string().ok_or_else(expected("a string"))
    }

    fn u64(self) -> Res<u64> {
        self.as_u64().ok_or_else(expected("an unsigned integer"))
    }

    fn i64(self) -> Res<i64> {
        self.as_i64().ok_or_else(expected("an integer"))
    }

    fn bool(self) -> Res<bool> {
        self.as_bool().ok_or_else(expected("a boolean"))
    }
}

fn levels<'a, D: Doc<'a>>(side: D) -> Res<Vec<Level<'a>>> {
    side.items()?
        .map(|level| {
            let mut parts = level?.items()?;
            let mut next = || parts.next().ok_or_else(expected("[price, qty]"))?;
            Ok(Level { price: next()?.str()?, qty: next()?.str()? })
        })
        .collect()
}

/// The single element of an array that holds exactly one (OKX's `data` on books).
fn only<'a, D: Doc<'a>>(array: D) -> Res<D> {
    let mut items = array.items()?;
    let first = items.next().ok_or_else(expected("one element"))??;
    if items.next().is_some() {
        return Err("expected one element, found more".into());
    }
    Ok(first)
}

// ---------------------------------------------------------------------------------------------
// The payloads: shaped as the venues document them (PROTOCOLS.md), compact as they are sent.

trait Payload {
    /// The group's name: `json/<NAME>/<parser>`.
    const NAME: &'static str;
    /// The message as serde sees it: typed, with borrowed strings.
    type Raw<'a>: Deserialize<'a>;
    /// What the adapter hands on.
    type Out<'a>: PartialEq + fmt::Debug;

    /// Message number `n` of the pool.
    fn generate(rng: &mut Rng, n: u64) -> String;
    fn normalize(raw: Self::Raw<'_>) -> Res<Self::Out<'_>>;
    fn extract<'a, D: Doc<'a>>(root: D) -> Res<Self::Out<'a>>;
}

/// xorshift64*: deterministic, so every run measures the same pool.
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

    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[usize::try_from(self.below(items.len() as u64)).expect("small")]
    }
}

/// Base asset, a typical price in ticks, and the tick's decimals.
const MARKETS: [(&str, u64, u32); 8] = [
    ("BTC", 9_712_345, 2),
    ("ETH", 341_057, 2),
    ("SOL", 18_934, 2),
    ("BNB", 64_712, 2),
    ("XRP", 21_873, 4),
    ("DOGE", 31_245, 5),
    ("ADA", 9_012, 4),
    ("LINK", 2_318, 2),
];

struct Market {
    base: &'static str,
    /// Price in ticks, within 1 % of the typical one.
    ticks: u64,
    decimals: u32,
}

impl Market {
    fn pick(rng: &mut Rng) -> Self {
        let &(base, typical, decimals) = rng.pick(&MARKETS);
        let spread = typical / 100;
        Self { base, ticks: typical - spread + rng.below(2 * spread), decimals }
    }
}

/// `units` × 10^-`decimals`, with every decimal written out.
fn fixed(units: u64, decimals: u32) -> String {
    let scale = 10_u64.pow(decimals);
    let width = decimals as usize;
    format!("{}.{:0width$}", units / scale, units % scale)
}

/// Binance writes 8 decimals.
fn binance_decimal(units: u64, decimals: u32) -> String {
    fixed(units * 10_u64.pow(8 - decimals), 8)
}

/// OKX drops trailing zeros (`"8477"`, `"42219.9"`).
fn okx_decimal(units: u64, decimals: u32) -> String {
    fixed(units, decimals).trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A quantity in 10^-6 units, mostly small, sometimes zero (a deleted book level).
fn quantity(rng: &mut Rng, zero_percent: u64) -> u64 {
    if rng.chance(zero_percent) {
        return 0;
    }
    let most = if rng.chance(80) { 50_000 } else { 5_000_000 };
    1 + rng.below(most)
}

/// `count` levels walking away from `start` ticks: up for asks, down for bids.
fn book_side(rng: &mut Rng, start: u64, ascending: bool, count: u64) -> Vec<(u64, u64)> {
    let mut ticks = start;
    (0..count)
        .map(|_| {
            let step = 1 + rng.below(5);
            ticks = if ascending { ticks + step } else { ticks - step };
            (ticks, quantity(rng, 15))
        })
        .collect()
}

fn json_levels(levels: &[(u64, u64)], format: impl Fn(u64, u64) -> String) -> String {
    let items: Vec<String> = levels.iter().map(|&(ticks, qty)| format(ticks, qty)).collect();
    format!("[{}]", items.join(","))
}

fn time_ms(rng: &mut Rng, n: u64) -> u64 {
    1_764_000_000_000 + n * 97 + rng.below(50)
}

/// Binance's combined-stream envelope; `stream` is skipped (the adapter dispatched on it).
#[derive(Deserialize)]
struct Combined<D> {
    data: D,
}

struct BinanceTrade;

#[derive(Deserialize)]
struct BinanceTradeRaw<'a> {
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "t")]
    trade_id: u64,
    #[serde(rename = "p")]
    price: &'a str,
    #[serde(rename = "q")]
    qty: &'a str,
    #[serde(rename = "T")]
    trade_time_ms: u64,
    #[serde(rename = "m")]
    buyer_is_maker: bool,
}

impl Payload for BinanceTrade {
    const NAME: &'static str = "binance_trade";
    type Raw<'a> = Combined<BinanceTradeRaw<'a>>;
    type Out<'a> = Trade<'a>;

    fn generate(rng: &mut Rng, n: u64) -> String {
        let market = Market::pick(rng);
        let (event_ms, trade_id) = (time_ms(rng, n), 5_000_000_000 + n * 7 + rng.below(7));
        format!(
            r#"{{"stream":"{lower}usdt@trade","data":{{"e":"trade","E":{event_ms},"s":"{base}USDT","t":{trade_id},"p":"{price}","q":"{qty}","T":{trade_ms},"m":{maker},"M":true}}}}"#,
            lower = market.base.to_lowercase(),
            base = market.base,
            price = binance_decimal(market.ticks, market.decimals),
            qty = binance_decimal(quantity(rng, 0), 6),
            trade_ms = event_ms - rng.below(3),
            maker = rng.chance(50),
        )
    }

    fn normalize(raw: Self::Raw<'_>) -> Res<Self::Out<'_>> {
        let trade = raw.data;
        Ok(Trade {
            symbol: trade.symbol,
            price: trade.price,
            qty: trade.qty,
            side: if trade.buyer_is_maker { Side::Sell } else { Side::Buy },
            id: TradeId::Number(trade.trade_id),
            time_ms: trade.trade_time_ms,
        })
    }

    fn extract<'a, D: Doc<'a>>(root: D) -> Res<Self::Out<'a>> {
        let [data] = root.fields(["data"])?;
        let [symbol, trade_id, price, qty, time, maker] = data.fields(["s", "t", "p", "q", "T", "m"])?;
        Ok(Trade {
            symbol: symbol.str()?,
            price: price.str()?,
            qty: qty.str()?,
            side: if maker.bool()? { Side::Sell } else { Side::Buy },
            id: TradeId::Number(trade_id.u64()?),
            time_ms: time.u64()?,
        })
    }
}

struct BinanceBookTicker;

#[derive(Deserialize)]
struct BinanceBookTickerRaw<'a> {
    #[serde(rename = "u")]
    update_id: u64,
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "b")]
    bid_price: &'a str,
    #[serde(rename = "B")]
    bid_qty: &'a str,
    #[serde(rename = "a")]
    ask_price: &'a str,
    #[serde(rename = "A")]
    ask_qty: &'a str,
}

impl Payload for BinanceBookTicker {
    const NAME: &'static str = "binance_book_ticker";
    type Raw<'a> = Combined<BinanceBookTickerRaw<'a>>;
    type Out<'a> = Bbo<'a>;

    fn generate(rng: &mut Rng, n: u64) -> String {
        let market = Market::pick(rng);
        format!(
            r#"{{"stream":"{lower}usdt@bookTicker","data":{{"u":{update_id},"s":"{base}USDT","b":"{bid}","B":"{bid_qty}","a":"{ask}","A":"{ask_qty}"}}}}"#,
            lower = market.base.to_lowercase(),
            base = market.base,
            update_id = 60_000_000_000 + n * 13 + rng.below(13),
            bid = binance_decimal(market.ticks, market.decimals),
            bid_qty = binance_decimal(quantity(rng, 0), 6),
            ask = binance_decimal(market.ticks + 1 + rng.below(3), market.decimals),
            ask_qty = binance_decimal(quantity(rng, 0), 6),
        )
    }

    fn normalize(raw: Self::Raw<'_>) -> Res<Self::Out<'_>> {
        let ticker = raw.data;
        Ok(Bbo {
            symbol: ticker.symbol,
            update_id: ticker.update_id,
            bid: Level { price: ticker.bid_price, qty: ticker.bid_qty },
            ask: Level { price: ticker.ask_price, qty: ticker.ask_qty },
        })
    }

    fn extract<'a, D: Doc<'a>>(root: D) -> Res<Self::Out<'a>> {
        let [data] = root.fields(["data"])?;
        let [update_id, symbol, bid, bid_qty, ask, ask_qty] = data.fields(["u", "s", "b", "B", "a", "A"])?;
        Ok(Bbo {
            symbol: symbol.str()?,
            update_id: update_id.u64()?,
            bid: Level { price: bid.str()?, qty: bid_qty.str()? },
            ask: Level { price: ask.str()?, qty: ask_qty.str()? },
        })
    }
}

struct BinanceDepth;

#[derive(Deserialize)]
struct BinanceDepthRaw<'a> {
    #[serde(rename = "E")]
    event_time_ms: u64,
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "U")]
    first_update_id: u64,
    #[serde(rename = "u")]
    last_update_id: u64,
    #[serde(rename = "b", borrow)]
    bids: Vec<Level<'a>>,
    #[serde(rename = "a", borrow)]
    asks: Vec<Level<'a>>,
}

impl Payload for BinanceDepth {
    const NAME: &'static str = "binance_depth";
    type Raw<'a> = Combined<BinanceDepthRaw<'a>>;
    type Out<'a> = BookUpdate<'a>;

    /// 8 to 12 levels a side, 20 in all on average.
    fn generate(rng: &mut Rng, n: u64) -> String {
        let market = Market::pick(rng);
        let first = 70_000_000_000 + n * 41 + rng.below(20);
        let (bid_count, ask_count) = (8 + rng.below(5), 8 + rng.below(5));
        let format = |ticks, qty| {
            format!(r#"["{}","{}"]"#, binance_decimal(ticks, market.decimals), binance_decimal(qty, 6))
        };
        format!(
            r#"{{"stream":"{lower}usdt@depth@100ms","data":{{"e":"depthUpdate","E":{event_ms},"s":"{base}USDT","U":{first},"u":{last},"b":{bids},"a":{asks}}}}}"#,
            lower = market.base.to_lowercase(),
            base = market.base,
            event_ms = time_ms(rng, n),
            last = first + rng.below(40),
            bids = json_levels(&book_side(rng, market.ticks + 1, false, bid_count), format),
            asks = json_levels(&book_side(rng, market.ticks, true, ask_count), format),
        )
    }

    fn normalize(raw: Self::Raw<'_>) -> Res<Self::Out<'_>> {
        let depth = raw.data;
        Ok(BookUpdate {
            symbol: depth.symbol,
            snapshot: false,
            sequence: Sequence::Range { first: depth.first_update_id, last: depth.last_update_id },
            time_ms: depth.event_time_ms,
            checksum: None,
            bids: depth.bids,
            asks: depth.asks,
        })
    }

    fn extract<'a, D: Doc<'a>>(root: D) -> Res<Self::Out<'a>> {
        let [data] = root.fields(["data"])?;
        let [time, symbol, first, last, bids, asks] = data.fields(["E", "s", "U", "u", "b", "a"])?;
        Ok(BookUpdate {
            symbol: symbol.str()?,
            snapshot: false,
            sequence: Sequence::Range { first: first.u64()?, last: last.u64()? },
            time_ms: time.u64()?,
            checksum: None,
            bids: levels(bids)?,
            asks: levels(asks)?,
        })
    }
}

struct BybitTrade;

#[derive(Deserialize)]
struct BybitTradesRaw<'a> {
    #[serde(borrow)]
    data: Vec<BybitTradeRaw<'a>>,
}

#[derive(Deserialize)]
struct BybitTradeRaw<'a> {
    #[serde(rename = "T")]
    time_ms: u64,
    #[serde(rename = "s")]
    symbol: &'a str,
    #[serde(rename = "S")]
    taker_side: &'a str,
    #[serde(rename = "v")]
    qty: &'a str,
    #[serde(rename = "p")]
    price: &'a str,
    #[serde(rename = "i")]
    trade_id: &'a str,
}

impl Payload for BybitTrade {
    const NAME: &'static str = "bybit_public_trade";
    type Raw<'a> = BybitTradesRaw<'a>;
    type Out<'a> = Vec<Trade<'a>>;

    /// One trade per message mostly, up to three.
    fn generate(rng: &mut Rng, n: u64) -> String {
        let market = Market::pick(rng);
        let sent_ms = time_ms(rng, n);
        let count = if rng.chance(70) { 1 } else { 2 + rng.below(2) };
        let trades: Vec<String> = (0..count)
            .map(|_| {
                format!(
                    r#"{{"T":{time},"s":"{base}USDT","S":"{side}","v":"{qty}","p":"{price}","L":"{tick}","i":"{id:08x}-{a:04x}-{b:04x}-{c:04x}-{d:012x}","BT":false,"seq":{seq}}}"#,
                    time = sent_ms - rng.below(4),
                    base = market.base,
                    side = if rng.chance(50) { "Buy" } else { "Sell" },
                    qty = fixed(quantity(rng, 0), 6),
                    price = fixed(market.ticks + rng.below(3), market.decimals),
                    tick = rng.pick(&["PlusTick", "ZeroPlusTick", "MinusTick", "ZeroMinusTick"]),
                    id = rng.below(1 << 32),
                    a = rng.below(1 << 16),
                    b = rng.below(1 << 16),
                    c = rng.below(1 << 16),
                    d = rng.below(1 << 48),
                    seq = 80_000_000_000 + n * 5,
                )
            })
            .collect();
        format!(
            r#"{{"topic":"publicTrade.{base}USDT","type":"snapshot","ts":{sent_ms},"data":[{trades}]}}"#,
            base = market.base,
            trades = trades.join(","),
        )
    }

    fn normalize(raw: Self::Raw<'_>) -> Res<Self::Out<'_>> {
        raw.data
            .into_iter()
            .map(|trade| {
                Ok(Trade {
                    symbol: trade.symbol,
                    price: trade.price,
                    qty: trade.qty,
                    side: side(trade.taker_side)?,
                    id: TradeId::Text(trade.trade_id),
                    time_ms: trade.time_ms,
                })
            })
            .collect()
    }

    fn extract<'a, D: Doc<'a>>(root: D) -> Res<Self::Out<'a>> {
        let [data] = root.fields(["data"])?;
        data.items()?
            .map(|trade| {
                let [time, symbol, taker, qty, price, id] = trade?.fields(["T", "s", "S", "v", "p", "i"])?;
                Ok(Trade {
                    symbol: symbol.str()?,
                    price: price.str()?,
                    qty: qty.str()?,
                    side: side(taker.str()?)?,
                    id: TradeId::Text(id.str()?),
                    time_ms: time.u64()?,
                })
            })
            .collect()
    }
}

struct OkxTrade;

#[derive(Deserialize)]
struct OkxTradesRaw<'a> {
    #[serde(borrow)]
    data: Vec<OkxTradeRaw<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OkxTradeRaw<'a> {
    inst_id: &'a str,
    trade_id: &'a str,
    px: &'a str,
    sz: &'a str,
    side: &'a str,
    ts: &'a str,
}

impl Payload for OkxTrade {
    const NAME: &'static str = "okx_trades";
    type Raw<'a> = OkxTradesRaw<'a>;
    type Out<'a> = Vec<Trade<'a>>;

    /// One (aggregated) trade per message mostly, sometimes two.
    fn generate(rng: &mut Rng, n: u64) -> String {
        let market = Market::pick(rng);
        let count = if rng.chance(85) { 1 } else { 2 };
        let trades: Vec<String> = (0..count)
            .map(|_| {
                format!(
                    r#"{{"instId":"{base}-USDT","tradeId":"{id}","px":"{price}","sz":"{qty}","side":"{side}","ts":"{time}","count":"{fills}","source":"0","seqId":{seq}}}"#,
                    base = market.base,
                    id = 700_000_000 + n * 3 + rng.below(3),
                    price = okx_decimal(market.ticks + rng.below(3), market.decimals),
                    qty = okx_decimal(quantity(rng, 0) * 100, 8),
                    side = if rng.chance(50) { "buy" } else { "sell" },
                    time = time_ms(rng, n),
                    fills = 1 + rng.below(4),
                    seq = 30_000_000 + n,
                )
            })
            .collect();
        format!(
            r#"{{"arg":{{"channel":"trades","instId":"{base}-USDT"}},"data":[{trades}]}}"#,
            base = market.base,
            trades = trades.join(","),
        )
    }

    fn normalize(raw: Self::Raw<'_>) -> Res<Self::Out<'_>> {
        raw.data
            .into_iter()
            .map(|trade| {
                Ok(Trade {
                    symbol: trade.inst_id,
                    price: trade.px,
                    qty: trade.sz,
                    side: side(trade.side)?,
                    id: TradeId::Text(trade.trade_id),
                    time_ms: millis(trade.ts)?,
                })
            })
            .collect()
    }

    fn extract<'a, D: Doc<'a>>(root: D) -> Res<Self::Out<'a>> {
        let [data] = root.fields(["data"])?;
        data.items()?
            .map(|trade| {
                let [symbol, id, price, qty, taker, time] =
                    trade?.fields(["instId", "tradeId", "px", "sz", "side", "ts"])?;
                Ok(Trade {
                    symbol: symbol.str()?,
                    price: price.str()?,
                    qty: qty.str()?,
                    side: side(taker.str()?)?,
                    id: TradeId::Text(id.str()?),
                    time_ms: millis(time.str()?)?,
                })
            })
            .collect()
    }
}

struct OkxBooks;

#[derive(Deserialize)]
struct OkxBooksRaw<'a> {
    #[serde(borrow)]
    arg: OkxArgRaw<'a>,
    action: &'a str,
    /// Always one book: a 1-tuple reads it without allocating a `Vec`.
    #[serde(borrow)]
    data: (OkxBookRaw<'a>,),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OkxArgRaw<'a> {
    inst_id: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OkxBookRaw<'a> {
    #[serde(borrow)]
    asks: Vec<Level<'a>>,
    #[serde(borrow)]
    bids: Vec<Level<'a>>,
    ts: &'a str,
    checksum: i64,
    prev_seq_id: i64,
    seq_id: i64,
}

impl Payload for OkxBooks {
    const NAME: &'static str = "okx_books";
    type Raw<'a> = OkxBooksRaw<'a>;
    type Out<'a> = BookUpdate<'a>;

    /// An update with 10 to 15 levels a side, 25 in all on average.
    fn generate(rng: &mut Rng, n: u64) -> String {
        let market = Market::pick(rng);
        let seq = 9_000_000_000 + n * 50 + rng.below(50);
        let (ask_count, bid_count) = (10 + rng.below(6), 10 + rng.below(6));
        let format = |ticks, qty| {
            format!(
                r#"["{}","{}","0","{}"]"#,
                okx_decimal(ticks, market.decimals),
                okx_decimal(qty * 100, 8),
                u64::from(qty > 0) * (1 + qty % 7),
            )
        };
        format!(
            r#"{{"arg":{{"channel":"books","instId":"{base}-USDT"}},"action":"update","data":[{{"asks":{asks},"bids":{bids},"ts":"{time}","checksum":{checksum},"prevSeqId":{prev},"seqId":{seq}}}]}}"#,
            base = market.base,
            asks = json_levels(&book_side(rng, market.ticks, true, ask_count), format),
            bids = json_levels(&book_side(rng, market.ticks + 1, false, bid_count), format),
            time = time_ms(rng, n),
            checksum = i64::from(u32::try_from(rng.below(1 << 32)).expect("32 bits").cast_signed()),
            prev = seq - 1 - rng.below(90),
        )
    }

    fn normalize(raw: Self::Raw<'_>) -> Res<Self::Out<'_>> {
        let (book,) = raw.data;
        Ok(BookUpdate {
            symbol: raw.arg.inst_id,
            snapshot: raw.action == "snapshot",
            sequence: Sequence::Chain { prev: book.prev_seq_id, seq: book.seq_id },
            time_ms: millis(book.ts)?,
            checksum: checksum(book.checksum)?,
            bids: book.bids,
            asks: book.asks,
        })
    }

    fn extract<'a, D: Doc<'a>>(root: D) -> Res<Self::Out<'a>> {
        let [arg, action, data] = root.fields(["arg", "action", "data"])?;
        let [symbol] = arg.fields(["instId"])?;
        let [asks, bids, time, sum, prev, seq] =
            only(data)?.fields(["asks", "bids", "ts", "checksum", "prevSeqId", "seqId"])?;
        Ok(BookUpdate {
            symbol: symbol.str()?,
            snapshot: action.str()? == "snapshot",
            sequence: Sequence::Chain { prev: prev.i64()?, seq: seq.i64()? },
            time_ms: millis(time.str()?)?,
            checksum: checksum(sum.i64()?)?,
            bids: levels(bids)?,
            asks: levels(asks)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The parsers. Each reads the message as the connection hands it over (`&str`, UTF-8 already
// checked) and returns the payload's `Out`, borrowing from the message or from its scratch.

/// What a parser keeps between messages, as an adapter would.
struct Scratch {
    /// `serde_json`'s DOM: its strings are owned, so `Out` borrows from here.
    value: serde_json::Value,
    /// simd-json parses in place: the message is copied here, followed by its padding.
    input: Vec<u8>,
    buffers: simd_json::Buffers,
    tape: Tape<'static>,
}

impl Scratch {
    fn new() -> Self {
        Self {
            value: serde_json::Value::Null,
            input: Vec::with_capacity(4096),
            buffers: simd_json::Buffers::new(4096),
            tape: Tape(Vec::with_capacity(1024)),
        }
    }
}

type Parse<P> = for<'a> fn(&'a str, &'a mut Scratch) -> Res<<P as Payload>::Out<'a>>;

fn parsers<P: Payload>() -> [(&'static str, Parse<P>); 6] {
    [
        ("serde_json_value", serde_json_value::<P>),
        ("serde_json", serde_json_typed::<P>),
        ("sonic_rs", sonic_rs_typed::<P>),
        ("sonic_rs_lazy", sonic_rs_lazy::<P>),
        ("simd_json", simd_json_typed::<P>),
        ("simd_json_tape", simd_json_tape::<P>),
    ]
}

fn serde_json_value<'a, P: Payload>(json: &'a str, scratch: &'a mut Scratch) -> Res<P::Out<'a>> {
    scratch.value = serde_json::from_str(json)?;
    P::extract(&scratch.value)
}

fn serde_json_typed<'a, P: Payload>(json: &'a str, _: &'a mut Scratch) -> Res<P::Out<'a>> {
    P::normalize(serde_json::from_str(json)?)
}

fn sonic_rs_typed<'a, P: Payload>(json: &'a str, _: &'a mut Scratch) -> Res<P::Out<'a>> {
    P::normalize(sonic_rs::from_str(json)?)
}

fn sonic_rs_lazy<'a, P: Payload>(json: &'a str, _: &'a mut Scratch) -> Res<P::Out<'a>> {
    P::extract(Sonic::Message(json))
}

fn simd_json_typed<'a, P: Payload>(json: &'a str, scratch: &'a mut Scratch) -> Res<P::Out<'a>> {
    with_tape(json, scratch, |tape| {
        let mut deserializer = simd_json::Deserializer::from_tape(std::mem::replace(tape, Tape(Vec::new())));
        let raw = P::Raw::deserialize(&mut deserializer);
        *tape = deserializer.into_tape();
        P::normalize(raw?)
    })
}

fn simd_json_tape<'a, P: Payload>(json: &'a str, scratch: &'a mut Scratch) -> Res<P::Out<'a>> {
    with_tape(json, scratch, |tape| P::extract(tape.as_value()))
}

/// Copies `json` into the scratch input with simd-json's padding, parses it into the scratch
/// tape (no second copy: `fill_tape_padded`), lets `read` take what it needs, and keeps the
/// tape's allocation for the next message.
fn with_tape<'a, T>(
    json: &str,
    scratch: &'a mut Scratch,
    read: impl FnOnce(&mut Tape<'a>) -> Res<T>,
) -> Res<T> {
    let Scratch { input, buffers, tape, .. } = scratch;
    input.clear();
    input.extend_from_slice(json.as_bytes());
    input.resize(json.len() + simd_json::INPUT_PADDING, 0);
    let mut filled = std::mem::replace(tape, Tape(Vec::new())).reset();
    let result = simd_json::fill_tape_padded(input.as_mut_slice(), json.len(), buffers, &mut filled)
        .map_err(Into::into)
        .and_then(|()| read(&mut filled));
    *tape = filled.reset();
    result
}

// ---------------------------------------------------------------------------------------------
// The run: check every parser against serde_json on every payload, then time them.

fn pool<P: Payload>() -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ P::NAME.len() as u64);
    (0..POOL as u64).map(|n| P::generate(&mut rng, n)).collect()
}

/// A parser that is fast but wrong must not win: every parser extracts exactly what
/// `serde_json` does from every payload, and refuses a truncated message.
fn check<P: Payload>(pool: &[String]) {
    let (mut reference, mut scratch) = (Scratch::new(), Scratch::new());
    for json in pool {
        for (name, parse) in parsers::<P>() {
            // `Out<'a>` is invariant in `'a`: the reference is made afresh for each comparison.
            match (serde_json_typed::<P>(json, &mut reference), parse(json, &mut scratch)) {
                (Ok(expected), Ok(got)) => assert_eq!(got, expected, "{}/{name} on {json}", P::NAME),
                (Err(error), _) => panic!("{}: serde_json refuses {json}: {error}", P::NAME),
                (_, Err(error)) => panic!("{}/{name} refuses {json}: {error}", P::NAME),
            }
            let truncated = &json[..json.len() - 1];
            assert!(parse(truncated, &mut scratch).is_err(), "{}/{name} accepts {truncated}", P::NAME);
        }
    }
}

fn bench<P: Payload>(c: &mut Criterion) {
    let pool = pool::<P>();
    check::<P>(&pool);
    let mut group = c.benchmark_group(format!("json/{}", P::NAME));
    group.throughput(Throughput::Elements(1));
    for (name, parse) in parsers::<P>() {
        let mut scratch = Scratch::new();
        let mut messages = pool.iter().cycle();
        group.bench_function(name, |b| {
            b.iter(|| {
                let json = black_box(messages.next().expect("cycle never ends"));
                black_box(&parse(json, &mut scratch));
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench::<BinanceTrade>,
    bench::<BinanceBookTicker>,
    bench::<BinanceDepth>,
    bench::<BybitTrade>,
    bench::<OkxTrade>,
    bench::<OkxBooks>
);
criterion_main!(benches);
