//! Secrets that never show up in logs.
//!
//! [`Secret`] wraps an API key, a webhook secret, a registry or SSH password.
//! Its `Debug` and `Display` print `***`, so a secret inside any struct that
//! derives `Debug` stays hidden in logs, panics and error messages. The value is
//! reachable only through [`Secret::expose`], which makes every use greppable.

use alloc::string::String;
use core::fmt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string that must never be logged: `Debug` and `Display` print `***`.
///
/// `Serialize` writes the real value, because secrets have to reach request
/// bodies (a registry password being saved, for instance); never serialise a
/// `Secret` into a log line. Equality compares the values (not in constant time:
/// use the webhook verifier for comparisons an attacker can time).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself. Call this only where the value leaves for its
    /// destination (a header, a request body, a MAC key).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `true` when the secret is the empty string.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Length in bytes (safe to show: says nothing about the value).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(String::from(s))
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A form of a secret that is safe to print in an error message: its length
/// and nothing of its content, e.g. `<secret, 7 chars>`.
#[must_use]
pub fn masked(value: &str) -> String {
    alloc::format!("<secret, {} chars>", value.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("sk_live_very_secret_key");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            key: Secret,
        }
        let shown = format!("{:?}", Holder { key: s.clone() });
        assert!(!shown.contains("very_secret"), "{shown}");
        assert_eq!(s.expose(), "sk_live_very_secret_key");
        assert!(!masked("sk_live_very_secret_key").contains("sk_"));
    }
}
