//! Webhooks: signing, verification, notification payloads and delivery.
//!
//! Everything here is pure: times come in as arguments, randomness from a
//! caller's [`crate::Rng`], and decisions go out as data.
//!
//! - [`secret`]: keys from `whsec_<base64>` secrets or raw bytes.
//! - [`sign`]: [`Signer`], Standard Webhooks v1 (`webhook-id`,
//!   `webhook-timestamp`, `webhook-signature: v1,<base64>`), one signature per
//!   key during a rotation.
//! - [`verify`]: [`Verifier`], constant-time, tolerance both ways, typed
//!   reasons, never panics on header values.
//! - [`legacy`]: the Node client's `X-Webhook-Signature: sha256=<hex>`,
//!   opt-in only (its timestamp is not signed, so it can be replayed).
//! - [`payload`]: the Node client's notification bodies as typed structs.
//! - [`delivery`]: the per-message delivery machine and its schedules, with
//!   serialisable pending records for a durable outbox.
//! - [`replay`]: [`ReplayGuard`], refuse a `webhook-id` already handled
//!   within its window, bounded in memory.
//! - [`url_guard`]: refuse to deliver to non-http(s) URLs and private,
//!   loopback or reserved addresses.

pub mod delivery;
pub mod legacy;
pub mod payload;
pub mod replay;
pub mod secret;
pub mod sign;
pub mod url_guard;
pub mod verify;

pub use delivery::{
    AttemptResult, Delivery, DeliveryAction, FailReason, Jitter, PendingDelivery, Schedule,
    SignedAttempt,
};
pub use legacy::LegacyVerifier;
pub use payload::{Notification, NotificationStatus};
pub use replay::{ReplayError, ReplayGuard};

pub use secret::{KeyError, WebhookKey};
pub use sign::{SignError, Signer};
pub use url_guard::{UrlError, UrlPolicy, check_ip, check_url};

pub use verify::{HeaderLookup, Verified, Verifier, VerifyConfig, VerifyError};

/// The Standard Webhooks message id header.
pub const HEADER_ID: &str = "webhook-id";
/// The Standard Webhooks timestamp header (unix seconds).
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The Standard Webhooks signature header (`v1,<base64>` entries).
pub const HEADER_SIGNATURE: &str = "webhook-signature";
