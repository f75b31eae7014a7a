//! Each venue's protocol as the simulator speaks it: one [`VenueSim`](super::protocol::VenueSim)
//! per module.

pub mod binance;
pub mod bybit;
pub mod coinbase;
pub mod kraken;
pub mod okx;
