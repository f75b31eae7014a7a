//! The [`Router`]: per channel, a handler table indexed by [`Symbol`] and a fallback handler.
//!
//! Invariant: each channel's table has exactly `symbols.capacity()` slots, fixed in
//! [`Router::new`], and the router interns its own symbols, so a symbol it minted indexes in
//! bounds. `registered[c]` is the number of `Some` slots in channel `c`'s table.

use std::fmt;

use super::{RouterError, Symbol, SymbolTable};

/// The kind of market data an event carries; each has its own handler table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Executed trades.
    Trades,
    /// Best bid and offer.
    Bbo,
    /// Order-book snapshots and deltas.
    Book,
    /// Rolling ticker statistics.
    Ticker,
}

impl Channel {
    /// Every channel, in [`index`](Self::index) order.
    pub const ALL: [Self; 4] = [Self::Trades, Self::Bbo, Self::Book, Self::Ticker];

    /// This channel's position in [`ALL`](Self::ALL), for per-channel arrays.
    #[must_use]
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
}

const CHANNELS: usize = Channel::ALL.len();

/// A Rust handler: receives the event's symbol and the event.
///
/// A plain fn pointer, so routing is an indirect call with no allocation or captured state.
pub type Handler<E> = fn(Symbol, &E);

/// What [`Router::route`] did with an event, so callers can count unrouted ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed {
    /// The symbol's own handler received it.
    Handler,
    /// The symbol had no handler on this channel; the channel's fallback received it.
    Fallback,
    /// Neither a handler nor a fallback was set; nobody received it.
    Dropped,
}

/// Routes events of type `E` to the handler registered for their channel and symbol.
///
/// Owns the [`SymbolTable`] whose symbols it routes; intern through [`Router::intern`].
pub struct Router<E> {
    symbols: SymbolTable,
    // Boxed slices rather than `Vec`s: the length is fixed by the invariant, never grown.
    handlers: [Box<[Option<Handler<E>>]>; CHANNELS],
    fallbacks: [Option<Handler<E>>; CHANNELS],
    registered: [usize; CHANNELS],
}

impl<E> Router<E> {
    /// A router for up to `symbol_capacity` symbols, with no handlers and no fallbacks.
    ///
    /// # Panics
    ///
    /// If `symbol_capacity` exceeds `u32::MAX`.
    #[must_use]
    pub fn new(symbol_capacity: usize) -> Self {
        let symbols = SymbolTable::with_capacity(symbol_capacity);
        let handlers = Channel::ALL.map(|_| vec![None; symbols.capacity()].into_boxed_slice());
        Self { symbols, handlers, fallbacks: [None; CHANNELS], registered: [0; CHANNELS] }
    }

    /// The symbol for `name`, interning it if it is new.
    ///
    /// # Errors
    ///
    /// [`RouterError::SymbolTableFull`] if `name` is new and the capacity is reached.
    pub fn intern(&mut self, name: &str) -> Result<Symbol, RouterError> {
        self.symbols.intern(name)
    }

    /// The symbols this router routes, for lookups by name.
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// Sends `symbol`'s events on `channel` to `handler`; returns the handler it replaces.
    ///
    /// # Panics
    ///
    /// If `symbol` came from another table with more symbols than this router's capacity.
    pub fn register(&mut self, channel: Channel, symbol: Symbol, handler: Handler<E>) -> Option<Handler<E>> {
        let previous = self.handlers[channel.index()][symbol.index()].replace(handler);
        if previous.is_none() {
            self.registered[channel.index()] += 1;
        }
        previous
    }

    /// Removes `symbol`'s handler on `channel`, so its events go to the fallback; returns it.
    ///
    /// # Panics
    ///
    /// If `symbol` came from another table with more symbols than this router's capacity.
    pub fn unregister(&mut self, channel: Channel, symbol: Symbol) -> Option<Handler<E>> {
        let previous = self.handlers[channel.index()][symbol.index()].take();
        if previous.is_some() {
            self.registered[channel.index()] -= 1;
        }
        previous
    }

    /// Sets (or with `None`, clears) the handler for `channel`'s events whose symbol has none;
    /// returns the fallback it replaces.
    pub fn set_fallback(&mut self, channel: Channel, handler: Option<Handler<E>>) -> Option<Handler<E>> {
        std::mem::replace(&mut self.fallbacks[channel.index()], handler)
    }

    /// Calls the handler for `channel` and `symbol` with `event`, or else the channel's fallback.
    ///
    /// # Panics
    ///
    /// If `symbol` came from another table with more symbols than this router's capacity.
    #[inline]
    pub fn route(&self, channel: Channel, symbol: Symbol, event: &E) -> Routed {
        // The index keeps its bounds check (a compare and a never-taken branch): `benches/router.rs`
        // timed a `get_unchecked` variant at 1.6 ns against 1.8-2.0 ns per call, about one cycle,
        // far below what parsing the message costs. Making it sound would need every `Symbol` tied
        // to its router (a branded lifetime, or a table id in each symbol), so the check stays.
        if let Some(handler) = self.handlers[channel.index()][symbol.index()] {
            handler(symbol, event);
            Routed::Handler
        } else if let Some(fallback) = self.fallbacks[channel.index()] {
            fallback(symbol, event);
            Routed::Fallback
        } else {
            Routed::Dropped
        }
    }

    /// How many symbols have their own handler on `channel`.
    #[must_use]
    pub fn registered_count(&self, channel: Channel) -> usize {
        self.registered[channel.index()]
    }

    /// How many (channel, symbol) pairs have their own handler.
    #[must_use]
    pub fn registered_total(&self) -> usize {
        self.registered.iter().sum()
    }
}

// By hand: deriving would print every slot of every table.
impl<E> fmt::Debug for Router<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("symbols", &self.symbols.len())
            .field("capacity", &self.symbols.capacity())
            .field("registered", &self.registered)
            .field("fallbacks", &self.fallbacks.map(|fallback| fallback.is_some()))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// An event that is not `Copy`, as real events are not.
    struct Tick(u64);

    thread_local! {
        // Fn pointers cannot capture, so handlers report here: (who, symbol, event).
        static DELIVERED: RefCell<Vec<(&'static str, Symbol, u64)>> = const { RefCell::new(Vec::new()) };
    }

    fn deliver(who: &'static str, symbol: Symbol, event: u64) {
        DELIVERED.with_borrow_mut(|delivered| delivered.push((who, symbol, event)));
    }

    fn on_btc(symbol: Symbol, event: &Tick) {
        deliver("btc", symbol, event.0);
    }

    fn on_any(symbol: Symbol, event: &Tick) {
        deliver("any", symbol, event.0);
    }

    fn on_fallback(symbol: Symbol, event: &Tick) {
        deliver("fallback", symbol, event.0);
    }

    fn delivered() -> Vec<(&'static str, Symbol, u64)> {
        DELIVERED.with_borrow_mut(std::mem::take)
    }

    fn router_with(names: &[&str]) -> (Router<Tick>, Vec<Symbol>) {
        let mut router = Router::new(16);
        let symbols = names.iter().map(|name| router.intern(name).unwrap()).collect();
        (router, symbols)
    }

    #[test]
    fn every_channel_routes_to_handler_then_fallback_then_drops() {
        let (mut router, symbols) = router_with(&["BTC/USDT", "ETH/USDT"]);
        let (btc, eth) = (symbols[0], symbols[1]);

        for channel in Channel::ALL {
            assert!(router.register(channel, btc, on_btc).is_none());
            assert!(router.set_fallback(channel, Some(on_fallback)).is_none());
            assert_eq!(router.route(channel, btc, &Tick(1)), Routed::Handler);
            assert_eq!(router.route(channel, eth, &Tick(2)), Routed::Fallback);
            assert_eq!(delivered(), [("btc", btc, 1), ("fallback", eth, 2)]);

            let removed = router.unregister(channel, btc).expect("btc's handler was registered");
            removed(btc, &Tick(3));
            assert_eq!(delivered(), [("btc", btc, 3)]);
            assert!(router.unregister(channel, btc).is_none());
            assert_eq!(router.route(channel, btc, &Tick(4)), Routed::Fallback);
            assert_eq!(delivered(), [("fallback", btc, 4)]);

            assert!(router.set_fallback(channel, None).is_some());
            assert_eq!(router.route(channel, btc, &Tick(5)), Routed::Dropped);
            assert_eq!(router.route(channel, eth, &Tick(6)), Routed::Dropped);
            assert!(delivered().is_empty());
        }
    }

    #[test]
    fn channels_are_independent() {
        let (mut router, symbols) = router_with(&["BTC/USDT"]);
        let btc = symbols[0];
        router.register(Channel::Trades, btc, on_btc);
        router.set_fallback(Channel::Book, Some(on_fallback));

        assert_eq!(router.route(Channel::Trades, btc, &Tick(1)), Routed::Handler);
        assert_eq!(router.route(Channel::Bbo, btc, &Tick(2)), Routed::Dropped);
        assert_eq!(router.route(Channel::Book, btc, &Tick(3)), Routed::Fallback);
        assert_eq!(router.route(Channel::Ticker, btc, &Tick(4)), Routed::Dropped);
        assert_eq!(delivered(), [("btc", btc, 1), ("fallback", btc, 3)]);
    }

    #[test]
    fn registering_again_replaces_and_returns_the_previous_handler() {
        let (mut router, symbols) = router_with(&["BTC/USDT"]);
        let btc = symbols[0];
        router.register(Channel::Bbo, btc, on_btc);

        let previous = router.register(Channel::Bbo, btc, on_any).expect("a handler was registered");
        previous(btc, &Tick(1));
        router.route(Channel::Bbo, btc, &Tick(2));
        assert_eq!(delivered(), [("btc", btc, 1), ("any", btc, 2)]);
        assert_eq!(router.registered_count(Channel::Bbo), 1);
    }

    #[test]
    fn registered_counts_follow_registrations() {
        let (mut router, symbols) = router_with(&["BTC/USDT", "ETH/USDT", "SOL/USDT"]);
        for &symbol in &symbols {
            router.register(Channel::Trades, symbol, on_any);
        }
        router.register(Channel::Ticker, symbols[0], on_any);
        router.unregister(Channel::Trades, symbols[1]);
        router.set_fallback(Channel::Bbo, Some(on_fallback));

        let counts = Channel::ALL.map(|channel| router.registered_count(channel));
        assert_eq!(counts, [2, 0, 0, 1]);
        assert_eq!(router.registered_total(), 3);
    }

    #[test]
    fn interning_through_the_router_is_bounded_by_its_capacity() {
        let mut router = Router::<Tick>::new(1);
        let btc = router.intern("BTC/USDT").unwrap();
        assert_eq!(router.intern("BTC/USDT"), Ok(btc));
        assert!(matches!(router.intern("ETH/USDT"), Err(RouterError::SymbolTableFull { capacity: 1, .. })));
        assert_eq!(router.symbols().get("BTC/USDT"), Some(btc));
    }

    const SYMBOLS: usize = 6;

    #[derive(Debug, Clone, Copy)]
    enum Op {
        Register(Channel, usize, bool),
        Unregister(Channel, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let channel = proptest::sample::select(Channel::ALL.to_vec());
        prop_oneof![
            (channel.clone(), 0..SYMBOLS, any::<bool>())
                .prop_map(|(channel, symbol, btc)| Op::Register(channel, symbol, btc)),
            (channel, 0..SYMBOLS).prop_map(|(channel, symbol)| Op::Unregister(channel, symbol)),
        ]
    }

    proptest! {
        #[test]
        fn counts_and_routes_match_a_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut router = Router::<Tick>::new(SYMBOLS);
            let symbols: Vec<Symbol> =
                (0..SYMBOLS).map(|n| router.intern(&format!("S{n}/USDT")).unwrap()).collect();
            router.set_fallback(Channel::Book, Some(on_fallback));
            let mut model: HashMap<(Channel, usize), &'static str> = HashMap::new();

            for op in ops {
                match op {
                    Op::Register(channel, n, btc) => {
                        let (handler, who): (Handler<Tick>, _) =
                            if btc { (on_btc, "btc") } else { (on_any, "any") };
                        let previous = router.register(channel, symbols[n], handler);
                        prop_assert_eq!(previous.is_some(), model.insert((channel, n), who).is_some());
                    }
                    Op::Unregister(channel, n) => {
                        let previous = router.unregister(channel, symbols[n]);
                        prop_assert_eq!(previous.is_some(), model.remove(&(channel, n)).is_some());
                    }
                }
                for channel in Channel::ALL {
                    let expected = model.keys().filter(|(c, _)| *c == channel).count();
                    prop_assert_eq!(router.registered_count(channel), expected);
                }
                prop_assert_eq!(router.registered_total(), model.len());
            }

            for channel in Channel::ALL {
                for (n, &symbol) in symbols.iter().enumerate() {
                    let expected = match (model.get(&(channel, n)), channel) {
                        (Some(&who), _) => Some(who),
                        (None, Channel::Book) => Some("fallback"),
                        (None, _) => None,
                    };
                    let routed = router.route(channel, symbol, &Tick(7));
                    prop_assert_eq!(routed == Routed::Dropped, expected.is_none());
                    let got = delivered();
                    prop_assert_eq!(got.first().map(|&(who, _, _)| who), expected);
                }
            }
        }
    }
}
