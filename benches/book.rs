//! The order book's hot paths without I/O: one level update (ns/op) on a book of 20, 1,000 and
//! 10,000 levels a side — a cycle mixing quantity changes of existing levels, inserts of new
//! prices and deletes, all within the best 20 levels where the traffic is — the OKX (top 25)
//! and Kraken (top 10) checksums of a 1,000-level book, and reading the top 10 levels.
//!
//! Run: `cargo bench --bench book -- --warm-up-time 1 --measurement-time 3`
//!
//! Results (this machine, release profile with fat LTO; median of criterion's estimate):
//!
//! | bench | time |
//! |---|---|
//! | `level_update/depth_20` | 16.0 ns |
//! | `level_update/depth_1000` | 30.7 ns (target: under 100 ns) |
//! | `level_update/depth_10000` | 42.0 ns |
//! | `checksum/okx_top25` | 2.68 µs (50 levels printed as text and hashed in one call) |
//! | `checksum/kraken_top10` | 0.62 µs |
//! | `top_read/top10_both_sides` | 41.6 ns |
//! | `top_read/best_bid_ask` | 5.7 ns |
//!
//! The checksums are the adapters' functions ([`tickwire::venues::okx::checksum`],
//! [`tickwire::venues::kraken::checksum`]) over the book's top levels: OKX's cost is the
//! `Display` of 100 decimals into the hasher, run once per update that carries a checksum.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use tickwire::book::OrderBook;
use tickwire::book::sync::{kraken_checksum, okx_checksum};
use tickwire::model::{Decimal, Level};

/// A book with `depth` bids and asks a tick apart around 50,000.00, quantities varied.
fn book(depth: usize) -> OrderBook {
    let mut book = OrderBook::new();
    let depth = i128::try_from(depth).expect("small");
    for i in 0..depth {
        let qty = Decimal::new(1_000 + (i * 7919) % 5_000, 4);
        book.set_bid(Level { price: Decimal::new(5_000_000 - 2 * i, 2), qty });
        book.set_ask(Level { price: Decimal::new(5_000_001 + 2 * i, 2), qty });
    }
    book
}

/// A cycle of bid updates that leaves the book as it found it: for each of the best 20
/// levels, a new quantity, an insert between it and the next (odd ticks are free), the
/// insert's delete, and the original quantity back.
fn update_cycle(book: &OrderBook) -> Vec<Level> {
    let mut ops = Vec::new();
    for level in book.top_bids(20) {
        let between = Decimal::new(level.price.mantissa() - 1, 2);
        ops.push(Level { price: level.price, qty: Decimal::new(12_345, 4) });
        ops.push(Level { price: between, qty: Decimal::new(500, 4) });
        ops.push(Level { price: between, qty: Decimal::ZERO });
        ops.push(level);
    }
    ops
}

fn level_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("level_update");
    for depth in [20, 1_000, 10_000] {
        let mut book = book(depth);
        let ops = update_cycle(&book);
        let mut cycle = ops.iter().copied().cycle();
        group.bench_function(format!("depth_{depth}"), |b| {
            b.iter(|| book.set_bid(black_box(cycle.next().expect("endless"))));
        });
    }
    group.finish();
}

fn checksums(c: &mut Criterion) {
    let book = book(1_000);
    let mut group = c.benchmark_group("checksum");
    group.bench_function("okx_top25", |b| b.iter(|| okx_checksum(black_box(&book))));
    group.bench_function("kraken_top10", |b| b.iter(|| kraken_checksum(black_box(&book))));
    group.finish();
}

fn top_read(c: &mut Criterion) {
    let book = book(1_000);
    let mut group = c.benchmark_group("top_read");
    group.bench_function("top10_both_sides", |b| {
        b.iter(|| {
            let book = black_box(&book);
            let mut sum = 0_i128;
            for level in book.top_bids(10).chain(book.top_asks(10)) {
                sum = sum.wrapping_add(level.qty.mantissa());
            }
            sum
        });
    });
    group.bench_function("best_bid_ask", |b| {
        b.iter(|| (black_box(&book).best_bid(), black_box(&book).best_ask()));
    });
    group.finish();
}

criterion_group!(benches, level_update, checksums, top_read);
criterion_main!(benches);
