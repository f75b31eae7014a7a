//! MEXC spot v3: the venue's identity (a registered venue, whose requests and answers the
//! Python venue `tickwire.venues.mexc` handles) and the decoder of its binary protobuf pushes
//! ([`crate::proto::mexc`]) into normalized events.
//!
//! Why the pushes are decoded here rather than in Python: measured on the simulator's deals
//! frames (`benches/mexc_decode.py`), Python's `protobuf` package (its C `upb` backend) took
//! 0.43 µs to decode a frame and 1.75 µs to make the `tickwire.Trade` from it (every field read
//! crosses into the C message object), against 0.40 µs for all of it here: `prost` decodes and
//! builds the event in Rust, and Python gets the finished object.
//! It also keeps `protobuf` out of the dependencies: the structs the simulator encodes with
//! are the ones decoded here.

use prost::Message as _;

use crate::book::SyncRule;
use crate::model::{
    Bbo, BookUpdate, Decimal, Event, Level, MarketCache, RegistryError, Side, SymbolSeparator, Trade,
    TradeId, Venue, VenueTraits,
};
use crate::proto::mexc::{
    Body, PublicAggreDepthV3ApiItem, PushDataV3ApiWrapper, TRADE_TYPE_BUY, TRADE_TYPE_SELL,
};

use super::ParseError;

/// MEXC's venue name.
pub const NAME: &str = "mexc";

/// MEXC's traits: `BTCUSDT` symbols, books proven as Binance's (REST snapshot, then pushes
/// whose `fromVersion`/`toVersion` are the first and last sequence).
pub const TRAITS: VenueTraits =
    VenueTraits { symbol_separator: SymbolSeparator::None, book_sync: Some(SyncRule::Binance) };

/// MEXC as a [`Venue`], registered with [`TRAITS`] on first use (again: the same venue).
///
/// # Errors
///
/// [`RegistryError::Conflict`] if `mexc` was registered with other traits; a full registry.
pub fn venue() -> Result<Venue, RegistryError> {
    Venue::register(NAME, TRAITS)
}

/// Whether `venue` is MEXC.
#[must_use]
pub fn is_mexc(venue: Venue) -> bool {
    matches!(venue, Venue::Registered(registered) if registered.name() == NAME)
}

/// Decodes one connection's push frames; remembers the markets it has seen.
#[derive(Debug)]
pub struct PushDecoder {
    venue: Venue,
    markets: MarketCache,
}

impl PushDecoder {
    /// A decoder for MEXC spot pushes.
    ///
    /// # Errors
    ///
    /// As [`venue`].
    pub fn new() -> Result<Self, RegistryError> {
        let venue = venue()?;
        Ok(Self { venue, markets: MarketCache::new(venue, None) })
    }

    /// The events in one binary push `frame`, appended to `out`: a `Trade` per deal, a
    /// `BookUpdate` delta per depth push (`first_sequence`/`last_sequence` from
    /// `fromVersion`/`toVersion`), a `BBO` per book-ticker push.
    ///
    /// # Errors
    ///
    /// [`ParseError`] for a frame that is no push wrapper, lacks its symbol or body, or holds
    /// a number that is not a decimal; `out` keeps what came before.
    pub fn decode(
        &mut self,
        frame: &[u8],
        receive_time_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let fail = |reason: String| ParseError::new(self.venue, reason, frame);
        let push =
            PushDataV3ApiWrapper::decode(frame).map_err(|error| fail(format!("not a push: {error}")))?;
        let symbol = push.symbol.as_deref().ok_or_else(|| fail("a push without its symbol".into()))?;
        let market = self.markets.get(symbol).map_err(|error| fail(error.to_string()))?.clone();
        let time_ns = |ms: i64| u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000);
        let pushed_ns = time_ns(push.send_time.or(push.create_time).unwrap_or(0));
        let decimal = |text: &str, what: &str| {
            text.parse::<Decimal>().map_err(|error| fail(format!("{what} {text:?}: {error}")))
        };
        match push.body.ok_or_else(|| fail("a push without a body".into()))? {
            Body::PublicAggreDeals(deals) => {
                for deal in &deals.deals {
                    let side = match deal.trade_type {
                        TRADE_TYPE_BUY => Side::Buy,
                        TRADE_TYPE_SELL => Side::Sell,
                        other => {
                            return Err(fail(format!("tradeType {other} is neither 1 (buy) nor 2 (sell)")));
                        }
                    };
                    let trade_id = TradeId::from(&deal.trade_id)
                        .map_err(|_| fail(format!("trade id {:?} is too long", deal.trade_id)))?;
                    out.push(Event::Trade(Trade {
                        market: market.clone(),
                        price: decimal(&deal.price, "price")?,
                        qty: decimal(&deal.quantity, "quantity")?,
                        side,
                        trade_id,
                        exchange_time_ns: time_ns(deal.time),
                        receive_time_ns,
                    }));
                }
            }
            Body::PublicAggreDepths(depths) => {
                let version = |text: &str, what: &str| {
                    text.parse::<u64>().map_err(|error| fail(format!("{what} {text:?}: {error}")))
                };
                let levels = |items: &[PublicAggreDepthV3ApiItem]| {
                    items
                        .iter()
                        .map(|item| {
                            Ok(Level {
                                price: decimal(&item.price, "price")?,
                                qty: decimal(&item.quantity, "quantity")?,
                            })
                        })
                        .collect::<Result<Vec<_>, ParseError>>()
                };
                out.push(Event::Book(BookUpdate {
                    market,
                    is_snapshot: false,
                    bids: levels(&depths.bids)?,
                    asks: levels(&depths.asks)?,
                    first_sequence: Some(version(&depths.from_version, "fromVersion")?),
                    last_sequence: Some(version(&depths.to_version, "toVersion")?),
                    prev_sequence: None,
                    checksum: None,
                    exchange_time_ns: pushed_ns,
                    receive_time_ns,
                }));
            }
            Body::PublicAggreBookTicker(ticker) => {
                out.push(Event::Bbo(Bbo {
                    market,
                    bid_price: decimal(&ticker.bid_price, "bidPrice")?,
                    bid_qty: decimal(&ticker.bid_quantity, "bidQuantity")?,
                    ask_price: decimal(&ticker.ask_price, "askPrice")?,
                    ask_qty: decimal(&ticker.ask_quantity, "askQuantity")?,
                    exchange_time_ns: pushed_ns,
                    receive_time_ns,
                }));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::proto::mexc::{
        PublicAggreBookTickerV3Api, PublicAggreDealsV3Api, PublicAggreDealsV3ApiItem, PublicAggreDepthsV3Api,
    };

    fn wrap(body: Body) -> Vec<u8> {
        PushDataV3ApiWrapper {
            channel: "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT".into(),
            body: Some(body),
            symbol: Some("BTCUSDT".into()),
            symbol_id: None,
            create_time: Some(1_700_000_000_000),
            send_time: Some(1_700_000_000_005),
        }
        .encode_to_vec()
    }

    fn item(price: &str, quantity: &str) -> PublicAggreDepthV3ApiItem {
        PublicAggreDepthV3ApiItem { price: price.into(), quantity: quantity.into() }
    }

    #[test]
    fn deals_depths_and_tickers_become_events() {
        let mut decoder = PushDecoder::new().unwrap();
        let mut out = Vec::new();
        let deal = |id: &str, trade_type| PublicAggreDealsV3ApiItem {
            price: "60000.01".into(),
            quantity: "0.5".into(),
            trade_type,
            time: 1_700_000_000_001,
            trade_id: id.into(),
        };
        let deals = Body::PublicAggreDeals(PublicAggreDealsV3Api {
            deals: vec![deal("7", TRADE_TYPE_BUY), deal("8", TRADE_TYPE_SELL)],
            event_type: "spot@public.aggre.deals.v3.api.pb@100ms".into(),
        });
        decoder.decode(&wrap(deals), 9, &mut out).unwrap();
        let depths = Body::PublicAggreDepths(PublicAggreDepthsV3Api {
            asks: vec![item("60000.02", "1")],
            bids: vec![item("59999.99", "0")],
            event_type: String::new(),
            from_version: "41".into(),
            to_version: "43".into(),
        });
        decoder.decode(&wrap(depths), 9, &mut out).unwrap();
        let ticker = Body::PublicAggreBookTicker(PublicAggreBookTickerV3Api {
            bid_price: "1".into(),
            bid_quantity: "2".into(),
            ask_price: "3".into(),
            ask_quantity: "4".into(),
        });
        decoder.decode(&wrap(ticker), 9, &mut out).unwrap();
        let [Event::Trade(first), Event::Trade(second), Event::Book(book), Event::Bbo(bbo)] = out.as_slice()
        else {
            panic!("{out:?}")
        };
        assert_eq!((first.side, second.side), (Side::Buy, Side::Sell));
        assert_eq!((first.trade_id.as_str(), first.exchange_time_ns), ("7", 1_700_000_000_001_000_000));
        assert_eq!(first.market.native.as_ref(), "BTCUSDT");
        assert_eq!(first.market.venue.as_str(), "mexc");
        assert_eq!((book.first_sequence, book.last_sequence, book.is_snapshot), (Some(41), Some(43), false));
        assert!(book.bids[0].qty.is_zero() && book.asks.len() == 1);
        assert_eq!(bbo.exchange_time_ns, 1_700_000_000_005_000_000);
        assert_eq!(bbo.ask_qty, "4".parse().unwrap());
    }

    #[test]
    fn bad_frames_are_parse_errors_with_the_reason() {
        let mut decoder = PushDecoder::new().unwrap();
        let mut out = Vec::new();
        let error = decoder.decode(b"\xff\xff\xff", 0, &mut out).unwrap_err();
        assert!(error.reason.starts_with("not a push"), "{}", error.reason);
        let no_body =
            PushDataV3ApiWrapper { symbol: Some("BTCUSDT".into()), ..Default::default() }.encode_to_vec();
        assert_eq!(decoder.decode(&no_body, 0, &mut out).unwrap_err().reason, "a push without a body");
        let bad_price = Body::PublicAggreDeals(PublicAggreDealsV3Api {
            deals: vec![PublicAggreDealsV3ApiItem {
                price: "x".into(),
                trade_type: TRADE_TYPE_BUY,
                ..Default::default()
            }],
            event_type: String::new(),
        });
        assert!(decoder.decode(&wrap(bad_price), 0, &mut out).unwrap_err().reason.starts_with("price \"x\""));
        assert!(out.is_empty());
    }
}
