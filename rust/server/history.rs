//! [`History`]: the last critical messages the server broadcast, for clients that come back
//! with `Resume`.
//!
//! Bounded: the oldest go first. What a resuming client missed is either all here (sent again)
//! or partly gone, which the client is told (`ResyncRequired`): nothing is lost without the
//! client knowing.

use std::collections::VecDeque;

use super::message::Shared;

/// What a resuming client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Every critical message after the client's last sequence number (possibly none).
    Complete(Vec<Shared>),
    /// Some are gone: the history now starts at `oldest_seq`.
    Gone {
        /// The first sequence number still kept (the next one to be sent, if none is kept).
        oldest_seq: u64,
    },
}

/// The recent critical messages, oldest first.
#[derive(Debug)]
pub struct History {
    messages: VecDeque<Shared>,
    capacity: usize,
    /// The sequence number of the newest critical message dropped for room (0: none).
    dropped_through: u64,
}

impl History {
    /// A history keeping at most `capacity` messages.
    #[must_use]
    pub const fn new(capacity: usize) -> Self {
        Self { messages: VecDeque::new(), capacity, dropped_through: 0 }
    }

    /// Keeps `message` (critical, in sequence order).
    pub fn record(&mut self, message: Shared) {
        if self.capacity == 0 {
            self.dropped_through = message.seq;
            return;
        }
        if self.messages.len() == self.capacity
            && let Some(oldest) = self.messages.pop_front()
        {
            self.dropped_through = oldest.seq;
        }
        self.messages.push_back(message);
    }

    /// What a client whose last message was `last_seq` missed, given the server's `current_seq`
    /// (a client ahead of the server saw another server instance: it must resync).
    #[must_use]
    pub fn since(&self, last_seq: u64, current_seq: u64) -> Replay {
        if last_seq < self.dropped_through || last_seq > current_seq {
            let oldest_seq = self.messages.front().map_or(current_seq + 1, |message| message.seq);
            return Replay::Gone { oldest_seq };
        }
        let start = self.messages.partition_point(|message| message.seq <= last_seq);
        Replay::Complete(self.messages.range(start..).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::server::message::{Kind, Outgoing, encode};

    fn critical(seq: u64) -> Shared {
        Arc::new(Outgoing {
            kind: Kind::TradeExecuted,
            symbol: None,
            seq,
            conflation: None,
            published_ns: 0,
            text: encode(Kind::TradeExecuted, seq, 0, None, None),
        })
    }

    fn seqs(replay: &Replay) -> Vec<u64> {
        match replay {
            Replay::Complete(messages) => messages.iter().map(|m| m.seq).collect(),
            Replay::Gone { .. } => panic!("{replay:?}"),
        }
    }

    #[test]
    fn a_resuming_client_gets_what_it_missed_or_is_told_it_is_gone() {
        let mut history = History::new(3);
        for seq in [2, 5, 9] {
            history.record(critical(seq));
        }
        assert_eq!(seqs(&history.since(4, 10)), [5, 9]);
        assert_eq!(seqs(&history.since(9, 10)), Vec::<u64>::new());
        assert_eq!(seqs(&history.since(0, 10)), [2, 5, 9], "nothing dropped yet");
        history.record(critical(12));
        assert_eq!(history.since(1, 12), Replay::Gone { oldest_seq: 5 }, "2 is gone");
        assert_eq!(seqs(&history.since(2, 12)), [5, 9, 12], "the client had 2");
        assert_eq!(history.since(40, 12), Replay::Gone { oldest_seq: 5 }, "from another server instance");
    }
}
