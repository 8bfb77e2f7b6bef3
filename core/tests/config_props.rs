//! Properties of `Config::from_pairs`: it never panics, every valid value of
//! every variable round-trips, and the result does not depend on the order of
//! the pairs (for a repeated key, the last occurrence wins).

use std::collections::BTreeMap;

use novitai_core::config::{Config, ConfigErrors, LogLevel, VARS, VarKind};
use proptest::prelude::*;

const KEY: &str = "sk_test_0123456789";

/// A key: mostly real variable names, sometimes anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(VARS.iter().map(|s| s.name).collect::<Vec<_>>())
            .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A value: numbers near interesting edges, spellings, URLs, or anything.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..400_000).prop_map(|n| n.to_string()),
        "[-+ ]?[0-9]{0,25}[.e]?[0-9]{0,3}",
        proptest::sample::select(vec![
            "",
            " ",
            "true",
            "No",
            "YES",
            "0",
            "1",
            "info",
            "DEBUG",
            "whsec_",
            "whsec_c2VjcmV0",
            "https://",
            "http://x",
            "https://a.b/c/",
            "ftp://x",
            "http:///x",
            "http://[::1]:1/",
        ])
        .prop_map(str::to_owned),
        "https?://[a-z0-9.:@\\[\\]/?#%-]{0,30}",
        any::<String>(),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((key(), value()), 0..30)
}

/// The pairs as a map where the last occurrence of each key wins.
fn last_wins(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs.iter().cloned().collect()
}

fn check_errors_shape(e: &ConfigErrors, pairs: &[(String, String)]) {
    let text = e.to_string();
    assert_eq!(text.lines().count(), e.problems().len(), "{text}");
    // At most one problem per variable, in table order.
    let positions: Vec<usize> = e
        .problems()
        .iter()
        .map(|p| VARS.iter().position(|s| s.name == p.var).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    // Problems with a secret show it masked, never the value itself.
    for p in e.problems() {
        let secret = matches!(
            VARS.iter().find(|s| s.name == p.var).map(|s| s.kind),
            Some(VarKind::Secret { .. })
        );
        if secret {
            assert!(
                p.value.is_empty() || p.value.starts_with("<secret, "),
                "{p}"
            );
        }
    }
    let _ = pairs;
}

/// Borrowed pairs, as an adapter would pass them.
fn refs(pairs: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_pairs_never_panic_and_errors_are_well_formed(pairs in pairs()) {
        match Config::from_pairs(refs(&pairs)) {
            Ok(c) => {
                prop_assert_eq!(c.validate(), Ok(()));
                let shown = format!("{c:?}");
                prop_assert!(!shown.contains(c.api_key.expose()));
            }
            Err(e) => check_errors_shape(&e, &pairs),
        }
    }

    #[test]
    fn the_order_of_pairs_does_not_matter_apart_from_last_wins(
        pairs in pairs(),
        seed in any::<u64>(),
    ) {
        let map = last_wins(&pairs);
        let reference = Config::from_pairs(&map);
        // Any permutation of the de-duplicated pairs gives the same result.
        let mut shuffled: Vec<(String, String)> = map.clone().into_iter().collect();
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let j = usize::try_from(s >> 33).unwrap() % (i + 1);
            shuffled.swap(i, j);
        }
        prop_assert_eq!(Config::from_pairs(refs(&shuffled)), reference.clone());
        // The original pairs, duplicates included, equal the last-wins map.
        prop_assert_eq!(Config::from_pairs(refs(&pairs)), reference);
    }
}

/// A valid value for a variable and the form `to_pairs` shows it in.
fn valid_value(name: &'static str) -> BoxedStrategy<(String, String)> {
    let spec = VARS.iter().find(|s| s.name == name).unwrap();
    match spec.kind {
        VarKind::Number { min, max, .. } => (min..=max)
            .prop_flat_map(|n| {
                // Leading zeros are accepted and dropped.
                (Just(n), 0usize..3)
                    .prop_map(|(n, z)| (format!("{}{n}", "0".repeat(z)), n.to_string()))
            })
            .boxed(),
        VarKind::Bool => proptest::sample::select(vec![
            ("true", "true"),
            ("TRUE", "true"),
            ("1", "true"),
            ("Yes", "true"),
            ("false", "false"),
            ("0", "false"),
            ("no", "false"),
            ("NO", "false"),
        ])
        .prop_map(|(a, b)| (a.to_owned(), b.to_owned()))
        .boxed(),
        VarKind::LogLevel => (0usize..4, any::<u8>())
            .prop_map(|(i, mask)| {
                let level = ["error", "warn", "info", "debug"][i];
                let mixed: String = level
                    .chars()
                    .enumerate()
                    .map(|(k, c)| {
                        if mask >> (k % 8) & 1 == 1 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect();
                (mixed, level.to_owned())
            })
            .boxed(),
        VarKind::Region => "[A-Za-z0-9_-]{1,32}"
            .prop_map(|r| (r.clone(), r.to_ascii_uppercase()))
            .boxed(),
        VarKind::Url { base } => (
            proptest::sample::select(vec!["http", "https"]),
            "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,5}){0,2}"
                .prop_filter("no punycode labels", |h: &String| !h.contains("xn--")),
            proptest::option::of(1u16..),
            proptest::collection::vec("[A-Za-z0-9_.~-]{1,8}", 0..3),
            any::<bool>(),
        )
            .prop_map(move |(scheme, host, port, segs, slash)| {
                let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
                let path = segs.iter().map(|s| format!("/{s}")).collect::<String>();
                let tail = if slash { "/" } else { "" };
                let input = format!("{scheme}://{host}{port_text}{path}{tail}");
                // Kept as given; a base URL loses its trailing slashes.
                let want = if base {
                    input.trim_end_matches('/').to_owned()
                } else {
                    input.clone()
                };
                (input, want)
            })
            .prop_filter("no dot segments", |(i, _)| {
                !i.contains("/./")
                    && !i.contains("/../")
                    && !i.ends_with("/.")
                    && !i.ends_with("/..")
            })
            .boxed(),
        VarKind::Secret { min_chars, whsec } => {
            let plain =
                proptest::string::string_regex(&format!("[!-~]{{{min_chars},40}}")).unwrap();
            if whsec {
                prop_oneof![
                    plain.prop_filter("not whsec_", |s: &String| !s.starts_with("whsec_")),
                    proptest::collection::vec(any::<u8>(), 1..40)
                        .prop_map(|b| format!("whsec_{}", b64(&b))),
                ]
                .prop_map(|s| (s.clone(), s))
                .boxed()
            } else {
                plain.prop_map(|s| (s.clone(), s)).boxed()
            }
        }
        _ => unreachable!("unknown kind for {name}"),
    }
}

/// Standard base64 with padding (test-only encoder).
fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Every valid value of `name` reads into the config and shows back as `want`.
fn round_trips(name: &'static str, input: &str, want: &str) -> Result<(), TestCaseError> {
    let mut pairs = vec![("NOVITA_API_KEY".to_owned(), KEY.to_owned())];
    // Keep the retry delays compatible whatever the other one is.
    match name {
        "RETRY_BASE_DELAY_MS" => pairs.push(("RETRY_MAX_DELAY_MS".into(), "300000".into())),
        "RETRY_MAX_DELAY_MS" => pairs.push(("RETRY_BASE_DELAY_MS".into(), "100".into())),
        _ => {}
    }
    pairs.push((name.to_owned(), input.to_owned()));
    let c = Config::from_pairs(refs(&pairs))
        .map_err(|e| TestCaseError::fail(format!("{name}={input}: {e}")))?;
    match name {
        "NOVITA_API_KEY" => prop_assert_eq!(c.api_key.expose(), want),
        "WEBHOOK_SECRET" => {
            prop_assert_eq!(c.webhook_secret.as_ref().map(|s| s.expose()), Some(want))
        }
        _ => {
            let shown = c
                .to_pairs()
                .into_iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v);
            prop_assert_eq!(shown.as_deref(), Some(want), "{}={}", name, input);
        }
    }
    // And the config reads back from its own pairs unchanged.
    let mut again = c.to_pairs();
    again.retain(|(k, _)| !matches!(*k, "NOVITA_API_KEY" | "WEBHOOK_SECRET"));
    again.push(("NOVITA_API_KEY", c.api_key.expose().to_owned()));
    if let Some(s) = &c.webhook_secret {
        again.push(("WEBHOOK_SECRET", s.expose().to_owned()));
    }
    prop_assert_eq!(Config::from_pairs(again), Ok(c));
    Ok(())
}

fn any_var_with_valid_value() -> impl Strategy<Value = (&'static str, String, String)> {
    proptest::sample::select(VARS.iter().map(|s| s.name).collect::<Vec<_>>())
        .prop_flat_map(|name| valid_value(name).prop_map(move |(i, w)| (name, i, w)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_valid_value_of_any_variable_round_trips((name, input, want) in any_var_with_valid_value()) {
        round_trips(name, &input, &want)?;
    }

    #[test]
    fn log_level_parse_matches_as_str(i in 0usize..4) {
        let l = [LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug][i];
        prop_assert_eq!(LogLevel::parse(l.as_str()), Some(l));
    }
}

#[test]
fn b64_helper_matches_known_vectors() {
    assert_eq!(b64(b"secret"), "c2VjcmV0");
    assert_eq!(b64(b"secret!"), "c2VjcmV0IQ==");
    assert_eq!(b64(b"ab"), "YWI=");
}
