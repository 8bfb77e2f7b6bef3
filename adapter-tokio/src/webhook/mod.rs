//! Webhooks over real HTTP: a durable sender and a verifying receiver.
//!
//! Every decision — when to retry, what counts as delivered, whether a
//! signature or an address is acceptable — is made by
//! [`novitai_core::webhook`]; this module only carries it out:
//!
//! - [`sender`]: [`WebhookSender`] runs one core [`Delivery`] machine per
//!   message over reqwest, with the wall clock for signatures, tokio timers
//!   for waits, no redirects, bounded responses, and a DNS resolver that
//!   refuses addresses the URL guard rejects. Every message ends in one
//!   [`DeliveryReport`].
//! - [`outbox`]: where pending deliveries wait, so none is lost across a
//!   crash: [`FileOutbox`] (an fsynced JSON-lines journal) or
//!   [`MemoryOutbox`], behind the [`Outbox`] trait.
//! - [`receiver`]: [`verify_request`] for any framework, [`WebhookReceiver`]
//!   with a bounded replay guard, and (feature `axum`) a middleware and
//!   extractor.
//!
//! [`Delivery`]: novitai_core::webhook::Delivery

pub mod outbox;
pub mod receiver;
pub mod sender;

pub use outbox::{FileOutbox, MemoryOutbox, Outbox, OutboxError};
pub use receiver::{Rejection, WebhookReceiver, verify_request};
pub use sender::{
    DeliveryOutcome, DeliveryReport, MessageId, SenderConfig, SenderError, WebhookSender,
};
