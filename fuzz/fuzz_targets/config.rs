//! `Config::from_pairs` on arbitrary key/value pairs (keys biased toward the
//! known variables, values toward each variable's edges) never panics; every
//! problem names a known variable, problems come in `VARS` order, and an
//! accepted configuration validates and reads back from its own pairs.
//!
//! An input starting with `#env` is read as a `.env` file (`KEY=VALUE` lines;
//! the seed corpus holds example configurations in this form); anything else
//! is read with `arbitrary`.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use novitai_core::config::{Config, VARS, VarKind};

const WORDS: &[&str] = &[
    "",
    " ",
    "true",
    "FALSE",
    "1",
    "0",
    "yes",
    "No",
    "on",
    "debug",
    "warn",
    "ERROR",
    "info",
    "trace",
    "CN-HK-01",
    "us-ca-06",
    "a_b-C",
    "-",
    "http://localhost",
    "https://api.novita.ai/",
    "https://api.novita.ai/gpu-instance/openapi///",
    "https://u:p@host/",
    "http://h/?q=1#f",
    "ftp://host",
    "https://",
    "http://[::1]:8080/x",
    "https://ex ample.com",
    "whsec_",
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "whsec_!!!!",
    "sk_0123456789abcdef",
    "sk 0123456789",
    "short",
    "\u{0}\u{7f}\u{202e}",
    "1e3",
    "+5",
    "-5",
    "0x10",
    "٣",
];

fn value(u: &mut Unstructured<'_>, kind: Option<VarKind>) -> Result<String> {
    let core = match u.int_in_range(0..=3)? {
        0 => u.arbitrary::<String>()?,
        1 => (*u.choose(WORDS)?).to_owned(),
        2 => match kind {
            Some(VarKind::Number { min, max, .. }) => {
                let edges = [
                    min.saturating_sub(1),
                    min,
                    max,
                    max.saturating_add(1),
                    u64::MAX,
                    0,
                    (min + max) / 2,
                ];
                let n = *u.choose(&edges)?;
                let mut s = n.to_string();
                if u.ratio(1, 8)? {
                    s.push('0'); // one digit more: overflow and beyond-range paths
                }
                s
            }
            Some(VarKind::Secret { min_chars, .. }) => {
                let n = min_chars
                    .saturating_add(u.int_in_range(0..=2)?)
                    .saturating_sub(1);
                "k".repeat(n)
            }
            _ => u.int_in_range(0u64..=u64::MAX)?.to_string(),
        },
        _ => {
            // A long value: shortened in messages.
            let c = u.arbitrary::<char>()?;
            std::iter::repeat_n(c, u.int_in_range(0..=300)?).collect()
        }
    };
    Ok(if u.ratio(1, 8)? {
        format!(" \t{core}\n")
    } else {
        core
    })
}

fn pairs(u: &mut Unstructured<'_>) -> Result<Vec<(String, String)>> {
    let n = u.int_in_range(0..=32)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (key, kind) = match u.int_in_range(0..=9)? {
            0 => (u.arbitrary::<String>()?, None),
            1 => {
                // A near miss: case or whitespace.
                let s = u.choose(VARS)?;
                (format!("{} ", s.name.to_lowercase()), None)
            }
            _ => {
                let s = u.choose(VARS)?;
                (s.name.to_owned(), Some(s.kind))
            }
        };
        out.push((key, value(u, kind)?));
    }
    Ok(out)
}

#[derive(Debug)]
struct Pairs(Vec<(String, String)>);

impl<'a> Arbitrary<'a> for Pairs {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        pairs(u).map(Pairs)
    }
}

/// `KEY=VALUE` lines; blank lines, comments and lines without `=` are skipped.
fn dotenv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let input = match data.strip_prefix(b"#env") {
        Some(rest) => Pairs(dotenv(&String::from_utf8_lossy(rest))),
        None => match Pairs::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(p) => p,
            Err(_) => return,
        },
    };
    match Config::from_pairs(input.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(config) => {
            assert!(config.validate().is_ok(), "{config:?} does not validate");
            // Its own pairs (with the secrets shown) read back to it.
            let mut back = config.to_pairs();
            for (k, v) in &mut back {
                if *k == "NOVITA_API_KEY" {
                    *v = config.api_key.expose().to_owned();
                }
                if *k == "WEBHOOK_SECRET"
                    && let Some(s) = &config.webhook_secret
                {
                    *v = s.expose().to_owned();
                }
            }
            assert_eq!(Config::from_pairs(back), Ok(config));
        }
        Err(errors) => {
            assert!(!errors.problems().is_empty());
            let mut last = 0;
            for p in errors.problems() {
                let Some(i) = VARS.iter().position(|s| s.name == p.var) else {
                    panic!("a problem names an unknown variable: {p:?}");
                };
                assert!(i >= last, "problems out of VARS order: {errors:?}");
                last = i;
                assert!(!p.problem.is_empty());
                assert!(p.to_string().starts_with(p.var));
            }
            let _ = errors.to_string();
        }
    }
});
