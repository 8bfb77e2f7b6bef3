//! Checks of single values: numbers, booleans, secrets, URLs, regions, and the
//! safe form of a value for an error message. None of them panics.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;

/// The value as it may appear in an error message: control characters
/// escaped, at most 64 characters.
pub(super) fn shown(value: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) enum NumError {
    NotANumber,
    TooBig,
}

/// Digits only; no sign, no spaces, no decimal point. Never panics.
pub(super) fn parse_u64(s: &str) -> Result<u64, NumError> {
    if s.is_empty() {
        return Err(NumError::NotANumber);
    }
    let mut n: u64 = 0;
    let mut overflow = false;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return Err(NumError::NotANumber);
        }
        match n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
        {
            Some(v) => n = v,
            None => overflow = true,
        }
    }
    if overflow {
        Err(NumError::TooBig)
    } else {
        Ok(n)
    }
}

pub(super) fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 3] = ["true", "1", "yes"];
    const FALSE: [&str; 3] = ["false", "0", "no"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if FALSE.iter().any(|t| t.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

pub(super) fn has_space_or_control(s: &str) -> bool {
    s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Checks a secret; `Err` is the problem text.
pub(super) fn check_secret(value: &str, min_chars: usize, whsec: bool) -> Result<(), String> {
    if has_space_or_control(value) {
        return Err("must not contain whitespace or control characters".to_owned());
    }
    if value.chars().count() < min_chars {
        return Err(format!("must be at least {min_chars} characters long"));
    }
    if whsec
        && let Some(b64) = value.strip_prefix("whsec_")
        && !crate::webhook::secret::is_base64(b64)
    {
        return Err(
            "starts with whsec_ but the rest is not valid base64 (A-Z a-z 0-9 + /, optional = padding)"
                .to_owned(),
        );
    }
    Ok(())
}

/// Checks an http(s) URL (with the webhook URL guard's reader, so the config
/// and the sender agree on what a URL means, but without its address policy
/// and range tables) and returns it as given (scheme and host lower-cased),
/// trailing slashes trimmed for a base URL. Private and loopback hosts are
/// allowed here: the simulator and tests live on 127.0.0.1; the webhook
/// sender applies its own address policy when it delivers.
pub(super) fn check_url(value: &str, base: bool) -> Result<String, String> {
    use crate::webhook::url_guard::{UrlError, read_url};
    const WANT: &str = "must be an http:// or https:// URL with a host";
    if has_space_or_control(value) || value.contains('\\') {
        return Err(format!(
            "{WANT}, without whitespace, control characters or backslashes"
        ));
    }
    match read_url(value, false) {
        Ok(_) => {}
        // Only `Malformed` carries a reason; the other errors are what WANT says.
        Err(UrlError::Malformed(why)) => return Err(format!("{WANT} ({why})")),
        Err(_) => return Err(WANT.to_owned()),
    }
    let after_scheme = value.split_once("://").map_or("", |(_, rest)| rest);
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    if after_scheme
        .get(..authority_end)
        .is_some_and(|a| a.contains('@'))
    {
        return Err("must not contain credentials (user:password@)".to_owned());
    }
    if base && (value.contains('?') || value.contains('#')) {
        return Err(format!(
            "{WANT}, without query (?) or fragment (#): paths are appended to it"
        ));
    }
    // Scheme and host are case-insensitive: store them lower-case.
    let prefix_len = value.len() - after_scheme.len() + authority_end;
    let (head, tail) = value.split_at(prefix_len.min(value.len()));
    let mut out = head.to_ascii_lowercase();
    out.push_str(tail);
    if base {
        out.truncate(out.trim_end_matches('/').len());
    }
    Ok(out)
}

pub(super) fn check_region(value: &str) -> Result<String, String> {
    let ok = (1..=32).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(value.to_ascii_uppercase())
    } else {
        Err("must be a region id like CN-HK-01: 1 to 32 letters, digits, - or _".to_owned())
    }
}
