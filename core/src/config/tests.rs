use super::*;
use alloc::vec;

const KEY: &str = "sk_test_0123456789";

fn with(extra: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let mut pairs = vec![("NOVITA_API_KEY", KEY)];
    pairs.extend_from_slice(extra);
    Config::from_pairs(pairs)
}

fn one(var: &str, value: &str) -> Result<Config, ConfigErrors> {
    with(&[(var, value)])
}

fn problems(r: Result<Config, ConfigErrors>) -> Vec<ConfigProblem> {
    match r {
        Ok(c) => panic!("expected problems, got {c:?}"),
        Err(e) => e.0,
    }
}

fn single_problem(var: &str, value: &str) -> String {
    let ps = problems(one(var, value));
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0].var, var);
    ps[0].to_string()
}

/// The value `to_pairs` shows for a variable.
fn shown_value(c: &Config, var: &str) -> Option<String> {
    c.to_pairs()
        .into_iter()
        .find(|(k, _)| *k == var)
        .map(|(_, v)| v)
}

// --- defaults ---------------------------------------------------------------

#[test]
fn only_an_api_key_gives_every_documented_default() {
    let c = with(&[]).unwrap();
    assert_eq!(c, Config::new(KEY));
    assert_eq!(c.api_key.expose(), KEY);
    assert_eq!(c.api_base_url, "https://api.novita.ai/gpu-instance/openapi");
    assert_eq!(c.webhook_url, None);
    assert_eq!(c.webhook_secret, None);
    assert_eq!(c.instance_poll_interval, Duration::from_secs(30));
    assert_eq!(c.max_retry_attempts, 3);
    assert_eq!(c.request_timeout, Duration::from_millis(30_000));
    assert_eq!(c.webhook_timeout, Duration::from_millis(10_000));
    assert_eq!(c.rate_limit_window, Duration::from_millis(60_000));
    assert_eq!(c.rate_limit_max_requests, 100);
    assert_eq!(c.log_level, LogLevel::Info);
    assert_eq!(c.default_region, "CN-HK-01");
    assert_eq!(c.cache_timeout, Duration::from_secs(300));
    assert!(!c.cache_enabled);
    assert_eq!(c.circuit_breaker_failure_threshold, 5);
    assert_eq!(c.circuit_breaker_open, Duration::from_secs(60));
    assert_eq!(c.circuit_breaker_success_threshold, 3);
    assert_eq!(c.retry_base_delay, Duration::from_secs(1));
    assert_eq!(c.retry_max_delay, Duration::from_secs(30));
    assert_eq!(c.max_concurrent_requests, 8);
    assert_eq!(c.queue_capacity, 1000);
    assert_eq!(c.startup_max_wait, Duration::from_secs(300));
}

#[test]
fn every_default_in_the_table_is_what_an_unset_variable_yields() {
    let c = with(&[]).unwrap();
    for spec in VARS {
        if let Some(d) = spec.default {
            assert_eq!(
                shown_value(&c, spec.name).as_deref(),
                Some(d),
                "{}",
                spec.name
            );
        }
    }
}

#[test]
fn the_table_is_consistent() {
    for (i, spec) in VARS.iter().enumerate() {
        assert!(
            VARS[..i].iter().all(|s| s.name != spec.name),
            "duplicate {}",
            spec.name
        );
        assert!(!spec.description.is_empty() && !spec.range.is_empty());
        assert_eq!(var_spec(spec.name), Some(spec));
        assert_eq!(spec.required, spec.name == "NOVITA_API_KEY");
        if let VarKind::Number { min, max, unit } = spec.kind {
            assert!(min <= max);
            let want = format!("{min}–{max}{}", unit.suffix());
            assert!(
                spec.range.starts_with(&want),
                "{}: range {:?} should start with {want:?}",
                spec.name,
                spec.range
            );
            assert!(spec.default.is_some());
        }
    }
    assert_eq!(var_spec("NOPE"), None);
}

// --- numbers: every numeric variable, generically -----------------------------

#[test]
fn every_number_accepts_its_bounds_and_rejects_just_outside_and_garbage() {
    for spec in VARS {
        let VarKind::Number { min, max, unit } = spec.kind else {
            continue;
        };
        // RETRY_MAX_DELAY_MS must also be >= the base delay (default 1000).
        // ... and RETRY_BASE_DELAY_MS at most the max delay (default 30000).
        let base_floor: &[(&str, &str)] = match spec.name {
            "RETRY_MAX_DELAY_MS" => &[("RETRY_BASE_DELAY_MS", "100")],
            "RETRY_BASE_DELAY_MS" => &[("RETRY_MAX_DELAY_MS", "300000")],
            _ => &[],
        };
        for ok in [min, max] {
            let text = ok.to_string();
            let mut pairs = base_floor.to_vec();
            pairs.push((spec.name, &text));
            let c = with(&pairs).unwrap_or_else(|e| panic!("{}={ok}: {e}", spec.name));
            assert_eq!(shown_value(&c, spec.name), Some(text.clone()));
        }
        let range = format!("between {min} and {max}{}", unit.suffix());
        for bad in [min.saturating_sub(1), max + 1] {
            if bad == min && min == 0 {
                continue;
            }
            let msg = single_problem(spec.name, &bad.to_string());
            assert_eq!(msg, format!("{}={bad}: must be {range}", spec.name));
        }
        let msg = single_problem(spec.name, "99999999999999999999999999");
        assert!(msg.ends_with(&format!("must be {range}")), "{msg}");
        for garbage in ["abc", "-5", "+5", "1.5", "1e3", "0x10", "1 0", "٣"] {
            let msg = single_problem(spec.name, garbage);
            assert!(
                msg.ends_with(&format!("must be a whole number {range}")),
                "{msg}"
            );
        }
    }
}

#[test]
fn request_timeout_out_of_range_reads_like_a_sentence() {
    assert_eq!(
        single_problem("REQUEST_TIMEOUT", "999999"),
        "REQUEST_TIMEOUT=999999: must be between 5000 and 120000 milliseconds"
    );
}

#[test]
fn seconds_variables_become_durations_in_seconds() {
    let c = with(&[
        ("INSTANCE_POLL_INTERVAL", "10"),
        ("CACHE_TIMEOUT", "3600"),
        ("STARTUP_MAX_WAIT", "30"),
    ])
    .unwrap();
    assert_eq!(c.instance_poll_interval, Duration::from_secs(10));
    assert_eq!(c.cache_timeout, Duration::from_secs(3600));
    assert_eq!(c.startup_max_wait, Duration::from_secs(30));
}

#[test]
fn millisecond_and_count_variables_land_in_their_fields() {
    let c = with(&[
        ("MAX_RETRY_ATTEMPTS", "10"),
        ("REQUEST_TIMEOUT", "5000"),
        ("WEBHOOK_TIMEOUT", "30000"),
        ("RATE_LIMIT_WINDOW_MS", "1000"),
        ("RATE_LIMIT_MAX_REQUESTS", "100000"),
        ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "1"),
        ("CIRCUIT_BREAKER_OPEN_MS", "3600000"),
        ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "20"),
        ("RETRY_BASE_DELAY_MS", "100"),
        ("RETRY_MAX_DELAY_MS", "300000"),
        ("MAX_CONCURRENT_REQUESTS", "256"),
        ("QUEUE_CAPACITY", "1"),
    ])
    .unwrap();
    assert_eq!(c.max_retry_attempts, 10);
    assert_eq!(c.request_timeout, Duration::from_millis(5000));
    assert_eq!(c.webhook_timeout, Duration::from_millis(30_000));
    assert_eq!(c.rate_limit_window, Duration::from_millis(1000));
    assert_eq!(c.rate_limit_max_requests, 100_000);
    assert_eq!(c.circuit_breaker_failure_threshold, 1);
    assert_eq!(c.circuit_breaker_open, Duration::from_millis(3_600_000));
    assert_eq!(c.circuit_breaker_success_threshold, 20);
    assert_eq!(c.retry_base_delay, Duration::from_millis(100));
    assert_eq!(c.retry_max_delay, Duration::from_millis(300_000));
    assert_eq!(c.max_concurrent_requests, 256);
    assert_eq!(c.queue_capacity, 1);
}

#[test]
fn leading_zeros_and_surrounding_spaces_are_fine() {
    let c = with(&[("MAX_RETRY_ATTEMPTS", " 007 ")]).unwrap();
    assert_eq!(c.max_retry_attempts, 7);
}

#[test]
fn retry_max_delay_below_the_base_delay_is_a_problem() {
    let ps = problems(with(&[
        ("RETRY_BASE_DELAY_MS", "5000"),
        ("RETRY_MAX_DELAY_MS", "4000"),
    ]));
    assert_eq!(ps.len(), 1);
    assert_eq!(
        ps[0].to_string(),
        "RETRY_MAX_DELAY_MS=4000: must be at least RETRY_BASE_DELAY_MS (5000 milliseconds)"
    );
    // Against the default base of 1000 ms.
    assert!(single_problem("RETRY_MAX_DELAY_MS", "500").contains("at least RETRY_BASE_DELAY_MS"));
    // Equal is fine.
    assert!(
        with(&[
            ("RETRY_BASE_DELAY_MS", "4000"),
            ("RETRY_MAX_DELAY_MS", "4000")
        ])
        .is_ok()
    );
    // A bad base is reported once, not again as a comparison.
    let ps = problems(with(&[
        ("RETRY_BASE_DELAY_MS", "x"),
        ("RETRY_MAX_DELAY_MS", "200"),
    ]));
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].var, "RETRY_BASE_DELAY_MS");
}

// --- booleans, log level, region ---------------------------------------------

#[test]
fn cache_enabled_accepts_the_usual_spellings() {
    for (text, want) in [
        ("true", true),
        ("TRUE", true),
        ("1", true),
        ("yes", true),
        ("Yes", true),
        ("false", false),
        ("False", false),
        ("0", false),
        ("no", false),
        ("NO", false),
    ] {
        assert_eq!(
            one("CACHE_ENABLED", text).unwrap().cache_enabled,
            want,
            "{text}"
        );
    }
    for bad in ["on", "2", "truee", "y"] {
        assert_eq!(
            single_problem("CACHE_ENABLED", bad),
            format!("CACHE_ENABLED={bad}: must be true or false (also accepted: 1/0, yes/no)")
        );
    }
}

#[test]
fn log_level_is_case_insensitive() {
    for (text, want) in [
        ("error", LogLevel::Error),
        ("WARN", LogLevel::Warn),
        ("Info", LogLevel::Info),
        ("debug", LogLevel::Debug),
    ] {
        assert_eq!(one("LOG_LEVEL", text).unwrap().log_level, want);
    }
    assert_eq!(
        single_problem("LOG_LEVEL", "verbose"),
        "LOG_LEVEL=verbose: must be one of error, warn, info, debug"
    );
    assert_eq!(LogLevel::Warn.to_string(), "warn");
    assert!(LogLevel::Error < LogLevel::Debug);
}

#[test]
fn region_is_upper_cased_and_checked() {
    assert_eq!(
        one("DEFAULT_REGION", "us-ca-06").unwrap().default_region,
        "US-CA-06"
    );
    assert_eq!(
        one("DEFAULT_REGION", &"A".repeat(32))
            .unwrap()
            .default_region,
        "A".repeat(32)
    );
    for bad in ["CN HK", "CN/HK", "é", &"A".repeat(33)] {
        assert!(
            single_problem("DEFAULT_REGION", bad).contains("region id like CN-HK-01"),
            "{bad}"
        );
    }
}

// --- URLs ---------------------------------------------------------------------

#[test]
fn base_url_trailing_slashes_are_trimmed() {
    let c = one("NOVITA_API_BASE_URL", "http://127.0.0.1:8080/openapi///").unwrap();
    assert_eq!(c.api_base_url, "http://127.0.0.1:8080/openapi");
    let c = one("NOVITA_API_BASE_URL", "https://api.example.com/").unwrap();
    assert_eq!(c.api_base_url, "https://api.example.com");
    let c = one("NOVITA_API_BASE_URL", "HTTPS://API.Example.com/v").unwrap();
    assert_eq!(c.api_base_url, "https://api.example.com/v");
}

#[test]
fn urls_must_be_http_or_https_with_a_host() {
    for var in ["NOVITA_API_BASE_URL", "WEBHOOK_URL"] {
        for bad in [
            "ftp://example.com",
            "example.com",
            "https://",
            "http:///path",
            "https:example.com",
            "https://exa mple.com",
            "https://example.com/\npath",
            "https://user:pw@example.com",
            "https://example.com:99999",
            "https://[::1",
            "https:\\\\example.com",
            "mailto:a@b.c",
        ] {
            let ps = problems(one(var, bad));
            assert_eq!(ps.len(), 1, "{var}={bad}");
            assert_eq!(ps[0].var, var);
            assert!(!ps[0].to_string().contains('\n'), "{}", ps[0]);
        }
    }
    let c = one("WEBHOOK_URL", "https://hooks.example.com/in?token=abc").unwrap();
    assert_eq!(
        c.webhook_url.as_deref(),
        Some("https://hooks.example.com/in?token=abc")
    );
    assert!(one("WEBHOOK_URL", "http://[::1]:9000/hook").is_ok());
    assert!(
        single_problem("NOVITA_API_BASE_URL", "https://api.example.com/?x=1")
            .contains("without query")
    );
    assert!(
        single_problem("NOVITA_API_BASE_URL", "https://api.example.com/#frag").contains("fragment")
    );
}

// --- secrets ------------------------------------------------------------------

#[test]
fn api_key_is_required() {
    let ps = problems(Config::from_pairs([("OTHER", "x")]));
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].var, "NOVITA_API_KEY");
    assert_eq!(ps[0].value, "");
    assert!(ps[0].to_string().starts_with("NOVITA_API_KEY: is required"));
    // Empty and blank count as unset.
    for empty in ["", "   "] {
        let ps = problems(Config::from_pairs([("NOVITA_API_KEY", empty)]));
        assert!(ps[0].problem.starts_with("is required"));
    }
}

#[test]
fn api_key_length_bounds_and_masking() {
    let ps = problems(Config::from_pairs([("NOVITA_API_KEY", "sk_secret")])); // 9 chars
    assert_eq!(
        ps[0].to_string(),
        "NOVITA_API_KEY=<secret, 9 chars>: must be at least 10 characters long"
    );
    assert!(Config::from_pairs([("NOVITA_API_KEY", "sk_secret0")]).is_ok());
    let ps = problems(Config::from_pairs([(
        "NOVITA_API_KEY",
        "sk_has space_inside",
    )]));
    assert!(!ps[0].to_string().contains("sk_has"));
    assert!(ps[0].problem.contains("whitespace"));
}

#[test]
fn webhook_secret_bounds_and_whsec_form() {
    assert_eq!(
        single_problem("WEBHOOK_SECRET", "short_7"),
        "WEBHOOK_SECRET=<secret, 7 chars>: must be at least 8 characters long"
    );
    let c = one("WEBHOOK_SECRET", "eight_ch").unwrap();
    assert_eq!(
        c.webhook_secret.as_ref().map(Secret::expose),
        Some("eight_ch")
    );
    // Standard Webhooks test-vector style secret.
    assert!(one("WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    assert!(one("WEBHOOK_SECRET", "whsec_c2VjcmV0").is_ok()); // "secret"
    assert!(one("WEBHOOK_SECRET", "whsec_c2VjcmV0IQ==").is_ok()); // "secret!"
    assert!(one("WEBHOOK_SECRET", "whsec_c2VjcmV0IQ").is_ok()); // unpadded
    for bad in [
        "whsec_!!!!!!!!",
        "whsec_c2VjcmV0I",
        "whsec_c2VjcmV0IR==",
        "whsec_c2Vj=cmV0",
        "whsec_c2VjcmV0IQ===",
        "whsec_",
        "whsec_ab",
    ] {
        let ps = problems(one("WEBHOOK_SECRET", bad));
        assert_eq!(ps.len(), 1, "{bad}");
        let line = ps[0].to_string();
        assert!(line.starts_with("WEBHOOK_SECRET=<secret, "), "{line}");
        assert!(!line.contains(bad), "secret leaked: {line}");
    }
}

#[test]
fn base64_checker_agrees_with_hand_cases() {
    assert!(is_base64("AAAA"));
    assert!(is_base64("AA=="));
    assert!(is_base64("AAA="));
    assert!(is_base64("AA"));
    assert!(is_base64("+/+/"));
    assert!(!is_base64(""));
    assert!(!is_base64("===="));
    assert!(!is_base64("A"));
    assert!(!is_base64("AB=="), "non-zero trailing bits");
    assert!(!is_base64("AAB="), "non-zero trailing bits");
    assert!(!is_base64("AAAA="));
    assert!(
        !is_base64("-_-_"),
        "url-safe alphabet is not standard base64"
    );
}

#[test]
fn debug_of_config_and_builder_never_shows_secrets() {
    let c = Config::builder("sk_live_TOPSECRET_key")
        .webhook_secret("TOPSECRET_webhook")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for shown in [
        format!("{c:?}"),
        format!("{c:#?}"),
        format!("{:?}", Config::builder("sk_live_TOPSECRET_key")),
    ] {
        assert!(!shown.contains("TOPSECRET"), "{shown}");
    }
    for (_, v) in c.to_pairs() {
        assert!(!v.contains("TOPSECRET"), "{v}");
    }
    assert_eq!(
        shown_value(&c, "NOVITA_API_KEY").as_deref(),
        Some("<secret, 21 chars>")
    );
}

// --- all problems at once, order, duplicates ----------------------------------

#[test]
fn five_bad_values_give_five_problems_in_table_order() {
    let pairs = [
        ("STARTUP_MAX_WAIT", "5"),
        ("LOG_LEVEL", "loud"),
        ("NOVITA_API_KEY", "sk_TOPSECRET"),
        ("REQUEST_TIMEOUT", "999999"),
        ("WEBHOOK_SECRET", "TOPSECR"),
        ("CACHE_ENABLED", "maybe"),
        ("UNRELATED", "whatever"),
    ];
    let e = Config::from_pairs(pairs).unwrap_err();
    let vars: Vec<&str> = e.problems().iter().map(|p| p.var).collect();
    assert_eq!(
        vars,
        [
            "WEBHOOK_SECRET",
            "REQUEST_TIMEOUT",
            "LOG_LEVEL",
            "CACHE_ENABLED",
            "STARTUP_MAX_WAIT"
        ]
    );
    let text = e.to_string();
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(!text.contains("TOPSECR"), "{text}");
    assert_eq!(
        text.lines().nth(1),
        Some("REQUEST_TIMEOUT=999999: must be between 5000 and 120000 milliseconds")
    );
    // Same result whatever the order of the pairs.
    let mut reversed = pairs;
    reversed.reverse();
    assert_eq!(Config::from_pairs(reversed).unwrap_err(), e);
}

#[test]
fn the_last_value_of_a_repeated_key_wins_even_when_empty() {
    let c = with(&[("MAX_RETRY_ATTEMPTS", "99"), ("MAX_RETRY_ATTEMPTS", "5")]).unwrap();
    assert_eq!(c.max_retry_attempts, 5);
    assert!(with(&[("MAX_RETRY_ATTEMPTS", "5"), ("MAX_RETRY_ATTEMPTS", "99")]).is_err());
    let c = with(&[("MAX_RETRY_ATTEMPTS", "5"), ("MAX_RETRY_ATTEMPTS", "")]).unwrap();
    assert_eq!(
        c.max_retry_attempts, 3,
        "empty last value means unset: default"
    );
}

#[test]
fn keys_are_case_sensitive_and_unknown_keys_are_ignored() {
    let c = with(&[("request_timeout", "1"), ("PATH", "/usr/bin")]).unwrap();
    assert_eq!(c.request_timeout, Duration::from_millis(30_000));
}

#[test]
fn values_in_messages_are_one_line_and_bounded() {
    let msg = single_problem("LOG_LEVEL", "a\nb\u{1b}[31m");
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(msg.contains("a\\nb\\u{1b}[31m"), "{msg}");
    let long = "x".repeat(1000);
    let msg = single_problem("LOG_LEVEL", &long);
    assert!(msg.len() < 200, "{msg}");
}

// --- builder, validate, to_pairs -----------------------------------------------

#[test]
fn builder_sets_fields_and_checks_them() {
    let c = Config::builder(KEY)
        .api_base_url("http://127.0.0.1:3000/")
        .webhook_url("https://hooks.example.com/x")
        .webhook_secret("whsec_c2VjcmV0")
        .default_region("eu-de-01")
        .instance_poll_interval(Duration::from_secs(15))
        .max_retry_attempts(5)
        .request_timeout(Duration::from_secs(10))
        .webhook_timeout(Duration::from_secs(2))
        .rate_limit_window(Duration::from_secs(1))
        .rate_limit_max_requests(10)
        .log_level(LogLevel::Debug)
        .cache_timeout(Duration::from_mins(2))
        .cache_enabled(true)
        .circuit_breaker_failure_threshold(2)
        .circuit_breaker_open(Duration::from_secs(5))
        .circuit_breaker_success_threshold(1)
        .retry_base_delay(Duration::from_millis(200))
        .retry_max_delay(Duration::from_secs(2))
        .max_concurrent_requests(4)
        .queue_capacity(10)
        .startup_max_wait(Duration::from_mins(10))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.api_base_url, "http://127.0.0.1:3000");
    assert_eq!(c.default_region, "EU-DE-01");
    assert_eq!(c.cache_timeout, Duration::from_secs(120));
    assert_eq!(c.log_level, LogLevel::Debug);
    assert!(c.cache_enabled);
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn builder_reports_every_bad_field_by_its_variable() {
    let e = Config::builder("short")
        .instance_poll_interval(Duration::from_millis(10_500))
        .queue_capacity(0)
        .build()
        .unwrap_err();
    let lines: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "NOVITA_API_KEY=<secret, 5 chars>: must be at least 10 characters long",
            "INSTANCE_POLL_INTERVAL=10.500: must be a whole number between 10 and 300 seconds",
            "QUEUE_CAPACITY=0: must be between 1 and 100000",
        ]
    );
}

#[test]
fn validate_checks_a_hand_edited_config() {
    let mut c = Config::new(KEY);
    assert_eq!(c.validate(), Ok(()));
    c.max_concurrent_requests = 1000;
    c.api_base_url = String::from("not a url");
    let e = c.validate().unwrap_err();
    let vars: Vec<&str> = e.problems().iter().map(|p| p.var).collect();
    assert_eq!(vars, ["NOVITA_API_BASE_URL", "MAX_CONCURRENT_REQUESTS"]);
    // Config::new does not check the key; validate does.
    assert!(Config::new("x").validate().is_err());
}

#[test]
fn to_pairs_reads_back_into_the_same_config_apart_from_secrets() {
    let c = with(&[
        ("WEBHOOK_URL", "https://hooks.example.com/n"),
        ("CACHE_ENABLED", "yes"),
        ("LOG_LEVEL", "WARN"),
        ("QUEUE_CAPACITY", "77"),
    ])
    .unwrap();
    let mut pairs = c.to_pairs();
    pairs.retain(|(k, _)| *k != "NOVITA_API_KEY");
    pairs.push(("NOVITA_API_KEY", KEY.to_owned()));
    assert_eq!(Config::from_pairs(pairs).unwrap(), c);
    assert_eq!(shown_value(&c, "CACHE_ENABLED").as_deref(), Some("true"));
    assert_eq!(shown_value(&c, "LOG_LEVEL").as_deref(), Some("warn"));
}

#[test]
fn errors_are_core_errors() {
    fn takes(_: &dyn core::error::Error) {}
    let e = Config::from_pairs([("A", "B")]).unwrap_err();
    takes(&e);
    takes(&e.0[0]);
}
