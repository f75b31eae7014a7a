//! The subscription batcher: 10,000 (symbol, channel) ids requested, batched into requests of
//! 200 under an unlimited budget, every request confirmed; and the same ids re-sent after a
//! reconnect. Measures the bookkeeping per id, which runs on the cold path of a feed.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use tickwire::subscribe::{Gcra, SubscribeConfig, SubscriptionManager};

const IDS: u32 = 10_000;

fn config() -> SubscribeConfig {
    SubscribeConfig {
        batch_size: 200,
        // Far above what the loop asks for, so the bench measures batching, not waiting.
        rate: Gcra::new(1_000_000, Duration::from_secs(1), 1_000_000),
        confirm_timeout: Duration::from_secs(10),
        retry_delay: Duration::from_secs(1),
        max_attempts: 3,
    }
}

/// Sends and confirms every pending request; returns how many ids went out.
fn send_and_confirm(manager: &mut SubscriptionManager, now: Duration) -> usize {
    let mut sent = 0;
    loop {
        let requests = manager.next_requests(now);
        if requests.is_empty() {
            return sent;
        }
        for request in requests {
            sent += request.ids.len();
            manager.confirm(request.id).unwrap();
        }
    }
}

fn batcher(c: &mut Criterion) {
    let mut group = c.benchmark_group("subscribe");
    group.throughput(Throughput::Elements(u64::from(IDS)));
    group.bench_function("request_batch_confirm_10k", |b| {
        b.iter(|| {
            let mut manager = SubscriptionManager::new(config());
            manager.request_subscription(0..IDS);
            assert_eq!(send_and_confirm(&mut manager, Duration::ZERO), IDS as usize);
        });
    });
    group.bench_function("resubscribe_after_reconnect_10k", |b| {
        let mut manager = SubscriptionManager::new(config());
        manager.request_subscription(0..IDS);
        send_and_confirm(&mut manager, Duration::ZERO);
        b.iter(|| {
            manager.on_reconnect();
            assert_eq!(send_and_confirm(&mut manager, Duration::ZERO), IDS as usize);
        });
    });
    group.finish();
}

criterion_group!(benches, batcher);
criterion_main!(benches);
