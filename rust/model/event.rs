//! Normalized market events: what every venue adapter produces and every consumer reads.
//!
//! Prices and quantities are exact [`Decimal`]s; times are nanoseconds — `exchange_time_ns`
//! since the Unix epoch as the venue stamped it (0 where the venue sends none),
//! `receive_time_ns` on [`crate::clock`]'s monotonic clock when the frame was read.

use arrayvec::ArrayString;

use super::decimal::Decimal;
use super::market::MarketRef;

/// The channels a feed subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Every trade.
    Trades,
    /// Best bid and offer.
    Bbo,
    /// L2 book snapshots and deltas.
    Book,
    /// 24 h ticker.
    Ticker,
}

impl Channel {
    /// Every channel, in a fixed order (the order of the router's tables).
    pub const ALL: [Self; 4] = [Self::Trades, Self::Bbo, Self::Book, Self::Ticker];

    /// `"trades"`, `"bbo"`, `"book"` or `"ticker"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Trades => "trades",
            Self::Bbo => "bbo",
            Self::Book => "book",
            Self::Ticker => "ticker",
        }
    }

    /// The channel [`as_str`](Self::as_str) names, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|channel| channel.as_str() == name)
    }
}

/// The taker's side of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The taker bought (lifted an ask).
    Buy,
    /// The taker sold (hit a bid).
    Sell,
}

impl Side {
    /// `"buy"` or `"sell"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }
}

/// A venue's trade id as text; ids longer than this are refused by the parsers (the longest
/// seen are Bybit's 36-character UUIDs).
pub type TradeId = ArrayString<48>;

/// One trade.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Trade {
    /// Venue and symbol.
    pub market: MarketRef,
    /// Price.
    pub price: Decimal,
    /// Quantity, in the base asset (or contracts, as the venue counts).
    pub qty: Decimal,
    /// The taker's side.
    pub side: Side,
    /// The venue's id of the trade.
    pub trade_id: TradeId,
    /// When the venue says the trade happened.
    pub exchange_time_ns: u64,
    /// When the frame carrying it was read.
    pub receive_time_ns: u64,
}

/// Best bid and offer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bbo {
    /// Venue and symbol.
    pub market: MarketRef,
    /// Best bid price.
    pub bid_price: Decimal,
    /// Quantity at the best bid.
    pub bid_qty: Decimal,
    /// Best ask price.
    pub ask_price: Decimal,
    /// Quantity at the best ask.
    pub ask_qty: Decimal,
    /// The venue's time of the quote (0 if it sends none, as Binance's `bookTicker`).
    pub exchange_time_ns: u64,
    /// When the frame carrying it was read.
    pub receive_time_ns: u64,
}

/// One price level: quantity zero removes the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Level {
    /// Price.
    pub price: Decimal,
    /// Quantity at that price; zero deletes the level.
    pub qty: Decimal,
}

/// An L2 book snapshot or delta, levels in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BookUpdate {
    /// Venue and symbol.
    pub market: MarketRef,
    /// A snapshot replaces the book; a delta changes the levels it names.
    pub is_snapshot: bool,
    /// Bid levels as sent.
    pub bids: Vec<Level>,
    /// Ask levels as sent.
    pub asks: Vec<Level>,
    /// First update id covered (Binance `U`), where the venue sends one.
    pub first_sequence: Option<u64>,
    /// Last update id covered (Binance `u`, Bybit `u`, OKX `seqId`, Coinbase `sequence_num`).
    pub last_sequence: Option<u64>,
    /// The previous message's last id (OKX `prevSeqId`), where the venue sends one.
    pub prev_sequence: Option<u64>,
    /// The venue's checksum of the book after this update (OKX signed, Kraken unsigned CRC32),
    /// where sent and non-zero.
    pub checksum: Option<i64>,
    /// The venue's time of the update.
    pub exchange_time_ns: u64,
    /// When the frame carrying it was read.
    pub receive_time_ns: u64,
}

/// A 24 h ticker; every field the venue does not send is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ticker {
    /// Venue and symbol.
    pub market: MarketRef,
    /// Last traded price.
    pub last_price: Option<Decimal>,
    /// Best bid price.
    pub bid_price: Option<Decimal>,
    /// Quantity at the best bid.
    pub bid_qty: Option<Decimal>,
    /// Best ask price.
    pub ask_price: Option<Decimal>,
    /// Quantity at the best ask.
    pub ask_qty: Option<Decimal>,
    /// Price 24 h ago (the window's open).
    pub open_24h: Option<Decimal>,
    /// Highest price in 24 h.
    pub high_24h: Option<Decimal>,
    /// Lowest price in 24 h.
    pub low_24h: Option<Decimal>,
    /// Traded volume in 24 h, in the base asset.
    pub volume_24h: Option<Decimal>,
    /// Traded volume in 24 h, in the quote asset.
    pub quote_volume_24h: Option<Decimal>,
    /// Absolute price change over 24 h (last − open).
    pub change_24h: Option<Decimal>,
    /// Price change over 24 h in percent (`2.5` means +2.5 %), whatever unit the venue uses.
    pub change_pct_24h: Option<Decimal>,
    /// The venue's time of the ticker.
    pub exchange_time_ns: u64,
    /// When the frame carrying it was read.
    pub receive_time_ns: u64,
}

/// Any normalized market event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Event {
    /// A trade.
    Trade(Trade),
    /// A best bid/offer.
    Bbo(Bbo),
    /// A book snapshot or delta.
    Book(BookUpdate),
    /// A ticker, boxed: it is four times the size of a trade, and rare.
    Ticker(Box<Ticker>),
}

impl Event {
    /// The channel the event belongs to.
    #[must_use]
    pub const fn channel(&self) -> Channel {
        match self {
            Self::Trade(_) => Channel::Trades,
            Self::Bbo(_) => Channel::Bbo,
            Self::Book(_) => Channel::Book,
            Self::Ticker(_) => Channel::Ticker,
        }
    }

    /// The market the event is about.
    #[must_use]
    pub const fn market(&self) -> &MarketRef {
        match self {
            Self::Trade(event) => &event.market,
            Self::Bbo(event) => &event.market,
            Self::Book(event) => &event.market,
            Self::Ticker(event) => &event.market,
        }
    }
}
