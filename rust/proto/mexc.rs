//! MEXC spot v3 public pushes: the binary frames of the `spot@public.aggre.*.v3.api.pb@…`
//! topics.
//!
//! Transcribed from the schemas in `mexcdevelop/websocket-proto`:
//! - `PublicAggreDealsV3Api.proto` at commit `094e767412fcbaba02d39433188ca65c57a87866`;
//! - `PushDataV3ApiWrapper.proto`, `PublicAggreDepthsV3Api.proto` and
//!   `PublicAggreBookTickerV3Api.proto` as published there, read from the fork
//!   `whiteher0n/websocket-proto` at commit `0c31e77aedd7b1226ad7ee9f1522e76bc4353fb2` (the
//!   copy at hand of the same files).
//!
//! Only the messages the aggregated public topics use. Prices, quantities, versions and trade
//! ids are decimal text, as MEXC sends them. The upstream deals item also declares `isRpi` and
//! `version`, both with field number 6, which `protoc` rejects; neither is modelled here, so a
//! decoder skips field 6 as unknown.

/// Every push: the topic it belongs to, its body, and the market and times.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushDataV3ApiWrapper {
    /// The topic, e.g. `spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT`.
    #[prost(string, tag = "1")]
    pub channel: String,
    /// The data, by topic kind.
    #[prost(oneof = "Body", tags = "313, 314, 315")]
    pub body: Option<Body>,
    /// The native symbol, `BTCUSDT`.
    #[prost(string, optional, tag = "3")]
    pub symbol: Option<String>,
    /// MEXC's internal id of the symbol.
    #[prost(string, optional, tag = "4")]
    pub symbol_id: Option<String>,
    /// When the data was produced, Unix ms.
    #[prost(int64, optional, tag = "5")]
    pub create_time: Option<i64>,
    /// When the push left, Unix ms.
    #[prost(int64, optional, tag = "6")]
    pub send_time: Option<i64>,
}

/// The wrapper's `oneof body`, restricted to the aggregated public topics.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Body {
    /// `spot@public.aggre.depth.v3.api.pb@…`.
    #[prost(message, tag = "313")]
    PublicAggreDepths(PublicAggreDepthsV3Api),
    /// `spot@public.aggre.deals.v3.api.pb@…`.
    #[prost(message, tag = "314")]
    PublicAggreDeals(PublicAggreDealsV3Api),
    /// `spot@public.aggre.bookTicker.v3.api.pb@…`.
    #[prost(message, tag = "315")]
    PublicAggreBookTicker(PublicAggreBookTickerV3Api),
}

/// The trades since the previous push.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PublicAggreDealsV3Api {
    /// The trades, oldest first.
    #[prost(message, repeated, tag = "1")]
    pub deals: Vec<PublicAggreDealsV3ApiItem>,
    /// The topic without its symbol, `spot@public.aggre.deals.v3.api.pb@100ms`.
    #[prost(string, tag = "2")]
    pub event_type: String,
}

/// One trade.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PublicAggreDealsV3ApiItem {
    /// Price.
    #[prost(string, tag = "1")]
    pub price: String,
    /// Quantity.
    #[prost(string, tag = "2")]
    pub quantity: String,
    /// The taker's side: [`TRADE_TYPE_BUY`] or [`TRADE_TYPE_SELL`].
    #[prost(int32, tag = "3")]
    pub trade_type: i32,
    /// Unix ms.
    #[prost(int64, tag = "4")]
    pub time: i64,
    /// The trade's id.
    #[prost(string, tag = "5")]
    pub trade_id: String,
}

/// `tradeType` of a trade whose taker bought.
pub const TRADE_TYPE_BUY: i32 = 1;
/// `tradeType` of a trade whose taker sold.
pub const TRADE_TYPE_SELL: i32 = 2;

/// The book levels changed by versions `fromVersion..=toVersion` (quantity `0` removes).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PublicAggreDepthsV3Api {
    /// Changed asks.
    #[prost(message, repeated, tag = "1")]
    pub asks: Vec<PublicAggreDepthV3ApiItem>,
    /// Changed bids.
    #[prost(message, repeated, tag = "2")]
    pub bids: Vec<PublicAggreDepthV3ApiItem>,
    /// The topic without its symbol, `spot@public.aggre.depth.v3.api.pb@100ms`.
    #[prost(string, tag = "3")]
    pub event_type: String,
    /// The first book version this push covers; the previous push's `toVersion` + 1.
    #[prost(string, tag = "4")]
    pub from_version: String,
    /// The last book version this push covers.
    #[prost(string, tag = "5")]
    pub to_version: String,
}

/// One price level.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PublicAggreDepthV3ApiItem {
    /// Price.
    #[prost(string, tag = "1")]
    pub price: String,
    /// Quantity at that price.
    #[prost(string, tag = "2")]
    pub quantity: String,
}

/// The best bid and ask.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PublicAggreBookTickerV3Api {
    /// Best bid price.
    #[prost(string, tag = "1")]
    pub bid_price: String,
    /// Quantity at the best bid.
    #[prost(string, tag = "2")]
    pub bid_quantity: String,
    /// Best ask price.
    #[prost(string, tag = "3")]
    pub ask_price: String,
    /// Quantity at the best ask.
    #[prost(string, tag = "4")]
    pub ask_quantity: String,
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    fn depth_push() -> PushDataV3ApiWrapper {
        PushDataV3ApiWrapper {
            channel: "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT".into(),
            body: Some(Body::PublicAggreDepths(PublicAggreDepthsV3Api {
                asks: vec![PublicAggreDepthV3ApiItem {
                    price: "92877.58".into(),
                    quantity: "0.00000000".into(),
                }],
                bids: vec![PublicAggreDepthV3ApiItem { price: "92876.02".into(), quantity: "1.5".into() }],
                event_type: "spot@public.aggre.depth.v3.api.pb@100ms".into(),
                from_version: "10589632359".into(),
                to_version: "10589632361".into(),
            })),
            symbol: Some("BTCUSDT".into()),
            symbol_id: None,
            create_time: Some(1_736_411_507_002),
            send_time: Some(1_736_411_507_002),
        }
    }

    #[test]
    fn every_body_round_trips() {
        let deals = PushDataV3ApiWrapper {
            channel: "spot@public.aggre.deals.v3.api.pb@10ms@BTCUSDT".into(),
            body: Some(Body::PublicAggreDeals(PublicAggreDealsV3Api {
                deals: vec![
                    PublicAggreDealsV3ApiItem {
                        price: "93220.00".into(),
                        quantity: "0.04438243".into(),
                        trade_type: TRADE_TYPE_SELL,
                        time: 1_736_409_765_051,
                        trade_id: "41".into(),
                    },
                    PublicAggreDealsV3ApiItem {
                        trade_type: TRADE_TYPE_BUY,
                        trade_id: "42".into(),
                        ..Default::default()
                    },
                ],
                event_type: "spot@public.aggre.deals.v3.api.pb@10ms".into(),
            })),
            symbol: Some("BTCUSDT".into()),
            send_time: Some(1_736_409_765_052),
            ..Default::default()
        };
        let ticker = PushDataV3ApiWrapper {
            channel: "spot@public.aggre.bookTicker.v3.api.pb@100ms@BTCUSDT".into(),
            body: Some(Body::PublicAggreBookTicker(PublicAggreBookTickerV3Api {
                bid_price: "93387.28".into(),
                bid_quantity: "3.73485".into(),
                ask_price: "93387.29".into(),
                ask_quantity: "7.669875".into(),
            })),
            ..Default::default()
        };
        for push in [depth_push(), deals, ticker] {
            let bytes = push.encode_to_vec();
            assert_eq!(PushDataV3ApiWrapper::decode(bytes.as_slice()).unwrap(), push);
        }
    }

    /// A frame written byte by byte from the `.proto` wire format proves the field numbers:
    /// a key is `(field << 3) | wire type`, as a varint.
    #[test]
    fn field_numbers_are_the_schemas() {
        let mut frame = vec![0x0A, 4];
        frame.extend_from_slice(b"spot"); // channel = 1, length-delimited
        frame.extend_from_slice(&[0x1A, 7]);
        frame.extend_from_slice(b"BTCUSDT"); // symbol = 3
        frame.extend_from_slice(&[0x30, 0x05]); // sendTime = 6, varint 5
        // publicAggreDepths = 313: key (313 << 3) | 2 = 2506 = varint [0xCA, 0x13].
        let depths = [
            0x12, 0x08, 0x0A, 0x02, b'9', b'9', 0x12, 0x02, b'0',
            b'1', // bids = 2 {price "99", quantity "01"}
            0x22, 0x01, b'7', // fromVersion = 4
            0x2A, 0x01, b'8', // toVersion = 5
        ];
        frame.extend_from_slice(&[0xCA, 0x13, u8::try_from(depths.len()).unwrap()]);
        frame.extend_from_slice(&depths);
        let push = PushDataV3ApiWrapper::decode(frame.as_slice()).unwrap();
        assert_eq!(push.channel, "spot");
        assert_eq!(push.symbol.as_deref(), Some("BTCUSDT"));
        assert_eq!(push.send_time, Some(5));
        let Some(Body::PublicAggreDepths(depths)) = push.body else { panic!("not depths: {push:?}") };
        assert_eq!(depths.bids, [PublicAggreDepthV3ApiItem { price: "99".into(), quantity: "01".into() }]);
        assert!(depths.asks.is_empty());
        assert_eq!((depths.from_version.as_str(), depths.to_version.as_str()), ("7", "8"));

        // publicAggreDeals = 314 → [0xD2, 0x13]; tradeType = 3 varint, time = 4, tradeId = 5.
        let item = [0x18, 0x02, 0x20, 0x09, 0x2A, 0x02, b'4', b'2'];
        let mut deals = vec![0x0A, u8::try_from(item.len()).unwrap()];
        deals.extend_from_slice(&item);
        let mut frame = vec![0xD2, 0x13, u8::try_from(deals.len()).unwrap()];
        frame.extend_from_slice(&deals);
        let push = PushDataV3ApiWrapper::decode(frame.as_slice()).unwrap();
        let Some(Body::PublicAggreDeals(deals)) = push.body else { panic!("not deals: {push:?}") };
        assert_eq!((deals.deals[0].trade_type, deals.deals[0].time), (TRADE_TYPE_SELL, 9));
        assert_eq!(deals.deals[0].trade_id, "42");

        // publicAggreBookTicker = 315 → [0xDA, 0x13]; askPrice = 3.
        let frame = [0xDA, 0x13, 0x03, 0x1A, 0x01, b'5'];
        let push = PushDataV3ApiWrapper::decode(frame.as_slice()).unwrap();
        let Some(Body::PublicAggreBookTicker(ticker)) = push.body else { panic!("not a ticker") };
        assert_eq!(ticker.ask_price, "5");
    }

    #[test]
    fn encoding_writes_the_same_keys() {
        let bytes = depth_push().encode_to_vec();
        assert_eq!(&bytes[..2], &[0x0A, 47], "channel first, 47 bytes");
        // prost writes fields by number: symbol (3), the two times (5, 6: 41-bit ms, 6-byte
        // varints), then the body (313).
        assert_eq!(&bytes[49..51], &[0x1A, 7], "symbol = 3");
        assert_eq!((bytes[58], bytes[65]), (0x28, 0x30), "createTime = 5, sendTime = 6");
        assert_eq!(&bytes[72..74], &[0xCA, 0x13], "publicAggreDepths = 313, length-delimited");
    }
}
