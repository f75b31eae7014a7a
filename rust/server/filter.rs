//! [`Filter`]: what one client subscribed to — message types × symbols — stored compactly
//! (a bit mask and a set of interned symbol ids) and checked per message.
//!
//! A client starts with everything. The first `Subscribe` naming channels narrows "every
//! channel" to those named, later ones add; the same for symbols. `Unsubscribe` removes what it
//! names; removing symbols from "every symbol" leaves every symbol but those. Messages without
//! a symbol (`BotStatusUpdate`) pass the symbol filter.

use rustc_hash::FxHashSet;

use super::message::Kind;

/// The mask of every subscribable type.
const EVERY_CHANNEL: u32 = {
    let mut mask = 0;
    let mut index = 0;
    while index < Kind::CHANNELS.len() {
        mask |= Kind::CHANNELS[index].bit();
        index += 1;
    }
    mask
};

/// Which symbols pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Symbols {
    /// Every symbol but these.
    AllExcept(FxHashSet<u32>),
    /// Only these.
    Only(FxHashSet<u32>),
}

/// One client's subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    channels: u32,
    /// Whether `channels` is still the default "every channel" (the first `Subscribe` naming
    /// channels replaces it).
    every_channel: bool,
    symbols: Symbols,
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            channels: EVERY_CHANNEL,
            every_channel: true,
            symbols: Symbols::AllExcept(FxHashSet::default()),
        }
    }
}

impl Filter {
    /// Whether a message of `kind` about `symbol` passes. Replies (`Pong` …) are not filtered
    /// here: they are sent to one client directly.
    #[must_use]
    pub fn passes(&self, kind: Kind, symbol: Option<u32>) -> bool {
        if self.channels & kind.bit() == 0 {
            return false;
        }
        match (symbol, &self.symbols) {
            (None, _) => true,
            (Some(id), Symbols::AllExcept(except)) => !except.contains(&id),
            (Some(id), Symbols::Only(only)) => only.contains(&id),
        }
    }

    /// Adds `channels` and `symbols` (see the [module documentation](self)).
    pub fn subscribe(&mut self, channels: Option<&[Kind]>, symbols: Option<&[u32]>) {
        if let Some(channels) = channels {
            if self.every_channel {
                self.channels = 0;
                self.every_channel = false;
            }
            for kind in channels {
                self.channels |= kind.bit();
            }
        }
        if let Some(symbols) = symbols {
            match &mut self.symbols {
                Symbols::AllExcept(except) if except.is_empty() => {
                    self.symbols = Symbols::Only(symbols.iter().copied().collect());
                }
                Symbols::AllExcept(except) => {
                    for id in symbols {
                        except.remove(id);
                    }
                }
                Symbols::Only(only) => only.extend(symbols),
            }
        }
    }

    /// Removes `channels` and `symbols`.
    pub fn unsubscribe(&mut self, channels: Option<&[Kind]>, symbols: Option<&[u32]>) {
        if let Some(channels) = channels {
            self.every_channel = false;
            for kind in channels {
                self.channels &= !kind.bit();
            }
        }
        if let Some(symbols) = symbols {
            match &mut self.symbols {
                Symbols::AllExcept(except) => except.extend(symbols),
                Symbols::Only(only) => {
                    for id in symbols {
                        only.remove(id);
                    }
                }
            }
        }
    }

    /// The subscribed types, in protocol order.
    pub fn channels(&self) -> impl Iterator<Item = Kind> + '_ {
        Kind::CHANNELS.into_iter().filter(|kind| self.channels & kind.bit() != 0)
    }

    /// Which symbols pass.
    #[must_use]
    pub const fn symbols(&self) -> &Symbols {
        &self.symbols
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_by_default_then_narrowed_then_extended() {
        let mut filter = Filter::default();
        assert!(filter.passes(Kind::MarketData, Some(1)) && filter.passes(Kind::BotStatusUpdate, None));
        filter.subscribe(Some(&[Kind::MarketData]), Some(&[1]));
        assert!(filter.passes(Kind::MarketData, Some(1)));
        assert!(!filter.passes(Kind::MarketData, Some(2)), "narrowed to symbol 1");
        assert!(!filter.passes(Kind::TradeExecuted, Some(1)), "narrowed to MarketData");
        assert!(
            !filter.passes(Kind::BotStatusUpdate, None),
            "channel filter applies to symbol-less messages"
        );
        filter.subscribe(Some(&[Kind::TradeExecuted]), Some(&[2]));
        assert!(filter.passes(Kind::TradeExecuted, Some(2)) && filter.passes(Kind::MarketData, Some(1)));
        filter.unsubscribe(Some(&[Kind::MarketData]), Some(&[1]));
        assert!(!filter.passes(Kind::MarketData, Some(2)) && !filter.passes(Kind::TradeExecuted, Some(1)));
        assert_eq!(filter.channels().collect::<Vec<_>>(), [Kind::TradeExecuted]);
    }

    #[test]
    fn unsubscribing_symbols_from_all_excludes_them() {
        let mut filter = Filter::default();
        filter.unsubscribe(None, Some(&[3]));
        assert!(!filter.passes(Kind::MarketData, Some(3)) && filter.passes(Kind::MarketData, Some(4)));
        filter.subscribe(None, Some(&[3]));
        assert!(filter.passes(Kind::MarketData, Some(3)), "subscribing again removes the exclusion");
        assert_eq!(filter.channels().count(), Kind::CHANNELS.len());
    }
}
