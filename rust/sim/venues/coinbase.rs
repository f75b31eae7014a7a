//! Coinbase's protocol in the simulator: placeholder until it lands.

use crate::model::Venue;
use crate::sim::protocol::{EncodeFaults, Happening, HeartbeatRules, Outbox, SimContext, VenueSim, Verdict};

/// One client's view of the simulated Coinbase.
#[derive(Debug, Default)]
pub struct CoinbaseSim {}

impl VenueSim for CoinbaseSim {
    fn venue(&self) -> Venue {
        Venue::Coinbase
    }

    fn heartbeat_rules(&self) -> HeartbeatRules {
        HeartbeatRules::default()
    }

    fn on_open(
        &mut self,
        _path: &str,
        _ctx: &dyn SimContext,
        _out: &mut Outbox,
    ) -> Result<(), (u16, String)> {
        Err((501, "not implemented yet".into()))
    }

    fn on_message(&mut self, _text: &str, _ctx: &dyn SimContext, _out: &mut Outbox) -> Verdict {
        Verdict::Continue
    }

    fn encode(&mut self, _happening: &Happening, _faults: EncodeFaults, _out: &mut Outbox) {}

    fn has_subscriptions(&self) -> bool {
        false
    }
}
