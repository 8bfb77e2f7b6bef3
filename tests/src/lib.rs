//! Shared helpers for novitai's cross-crate tests (simulation drivers, scripted
//! scenarios). The tests themselves live in `tests/tests/`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
