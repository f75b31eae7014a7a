//! The router's hot path without I/O: `Router::route` in ns per call over 1,000 interned
//! symbols, cycling through them, for a hit (the symbol's own handler), a fallback (the
//! channel's fallback handler) and a miss (dropped: neither is set); and `SymbolTable::get`,
//! the name-to-id lookup a venue adapter does per message, for a known and an unknown name.
//! Handlers only `black_box` their arguments, so the numbers are the routing overhead.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use tickwire::router::{Channel, Router, Symbol};

const SYMBOLS: usize = 1_000;

/// Shaped like a normalized trade: fixed-point price and size, two timestamps.
#[expect(dead_code, reason = "handlers take it by reference and never read it; only its shape matters")]
struct Trade {
    price: i64,
    size: i64,
    exchange_ns: u64,
    receive_ns: u64,
}

fn on_trade(symbol: Symbol, trade: &Trade) {
    black_box((symbol, trade));
}

fn names() -> Vec<String> {
    (0..SYMBOLS).map(|n| format!("C{n:03}/USDT")).collect()
}

/// Every symbol has a handler on `Trades`; `Bbo` has only a fallback; `Book` has nothing.
fn router() -> (Router<Trade>, Vec<Symbol>) {
    let mut router = Router::new(SYMBOLS);
    let symbols: Vec<Symbol> = names().iter().map(|name| router.intern(name).unwrap()).collect();
    for &symbol in &symbols {
        router.register(Channel::Trades, symbol, on_trade);
    }
    router.set_fallback(Channel::Bbo, Some(on_trade));
    (router, symbols)
}

fn route(c: &mut Criterion) {
    let (router, symbols) = router();
    let trade = Trade { price: 16_848_010_000, size: 100_000, exchange_ns: 1, receive_ns: 2 };
    let mut group = c.benchmark_group("route");
    for (case, channel) in [("hit", Channel::Trades), ("fallback", Channel::Bbo), ("miss", Channel::Book)] {
        let mut cycle = symbols.iter().copied().cycle();
        group.bench_function(case, |b| {
            b.iter(|| router.route(black_box(channel), black_box(cycle.next().unwrap()), black_box(&trade)));
        });
    }
    group.finish();
}

fn symbol_get(c: &mut Criterion) {
    let (router, _) = router();
    let names = names();
    let mut group = c.benchmark_group("symbol_get");
    let mut cycle = names.iter().cycle();
    group.bench_function("known", |b| b.iter(|| router.symbols().get(black_box(cycle.next().unwrap()))));
    group.bench_function("unknown", |b| b.iter(|| router.symbols().get(black_box("XRP/USDC"))));
    group.finish();
}

criterion_group!(benches, route, symbol_get);
criterion_main!(benches);
