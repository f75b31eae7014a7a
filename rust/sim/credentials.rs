//! The API keys the simulated venues accept on their private channels: at most one key and
//! secret per venue, given in the simulator's configuration. A venue without one refuses every
//! private subscription, as a venue refuses an unknown key.

use std::fmt;

use super::error::SimError;
use crate::model::Venue;

/// One API key and its secret. The secret never shows in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key the client sends.
    pub key: String,
    /// The secret it signs with.
    pub secret: String,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey").field("key", &self.key).field("secret", &"***").finish()
    }
}

/// The accepted key of each venue that has one.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    keys: Vec<(Venue, ApiKey)>,
}

impl Credentials {
    /// Accepts `key` on `venue`'s private channels (replacing a key given before).
    ///
    /// # Errors
    ///
    /// [`SimError::InvalidOption`]: the simulator has no private channel for `venue`, or the key
    /// or secret is empty.
    pub fn insert(&mut self, venue: Venue, key: ApiKey) -> Result<(), SimError> {
        let invalid = |reason: String| Err(SimError::InvalidOption { name: "credentials", reason });
        if !super::venues::has_private_channels(venue) {
            return invalid(format!("{venue} has no private channels in the simulator"));
        }
        if key.key.is_empty() || key.secret.is_empty() {
            return invalid(format!("{venue}: the key and the secret must not be empty"));
        }
        self.keys.retain(|(known, _)| *known != venue);
        self.keys.push((venue, key));
        Ok(())
    }

    /// The key `venue` accepts, if any.
    #[must_use]
    pub fn get(&self, venue: Venue) -> Option<&ApiKey> {
        self.keys.iter().find(|(known, _)| *known == venue).map(|(_, key)| key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(key: &str, secret: &str) -> ApiKey {
        ApiKey { key: key.into(), secret: secret.into() }
    }

    #[test]
    fn only_venues_with_private_channels_take_a_key_and_the_secret_stays_hidden() {
        let gate = super::super::venues::gateio::venue().unwrap();
        let mut credentials = Credentials::default();
        credentials.insert(gate, key("k1", "s1")).unwrap();
        credentials.insert(gate, key("k2", "s2")).unwrap();
        assert_eq!(credentials.get(gate), Some(&key("k2", "s2")), "the last key given");
        assert_eq!(credentials.get(Venue::Binance), None);
        let refused = credentials.insert(Venue::Binance, key("k", "s")).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "invalid simulator option credentials: binance has no private channels in the simulator"
        );
        assert!(matches!(credentials.insert(gate, key("", "s")), Err(SimError::InvalidOption { .. })));
        let shown = format!("{credentials:?}");
        assert!(shown.contains("k2") && !shown.contains("s2"), "{shown}");
    }
}
