//! Configuration: every problem listed at once, `.env` under the real
//! environment, and clear build errors.

use std::io::Write;

use novitai_core::Duration;
use novitai_tokio::Novita;
use novitai_tokio::client::{BuildError, config_from_sources};
use novitai_tokio::driver::DriverError;

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn config_errors_list_every_problem() {
    let err = config_from_sources(
        None,
        pairs(&[
            ("REQUEST_TIMEOUT", "999999"),
            ("RATE_LIMIT_MAX_REQUESTS", "zero"),
            ("NOVITA_API_BASE_URL", "ftp://example"),
        ]),
    )
    .unwrap_err();
    let BuildError::Config(errors) = &err else {
        panic!("expected config errors, got {err:?}");
    };
    let vars: Vec<&str> = errors.problems().iter().map(|p| p.var).collect();
    for var in [
        "NOVITA_API_KEY",
        "NOVITA_API_BASE_URL",
        "REQUEST_TIMEOUT",
        "RATE_LIMIT_MAX_REQUESTS",
    ] {
        assert!(vars.contains(&var), "{var} missing from {vars:?}");
    }
    assert_eq!(vars.len(), 4);
    let text = err.to_string();
    assert!(text.contains("REQUEST_TIMEOUT=999999"), "{text}");
    assert_eq!(
        text.lines().count(),
        5,
        "a header and one line per problem:\n{text}"
    );
}

#[test]
fn the_environment_overrides_the_dotenv_file() {
    let path = std::env::temp_dir().join(format!("novitai-dotenv-{}", std::process::id()));
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "NOVITA_API_KEY=sk_from_file_0123456789").unwrap();
    writeln!(f, "REQUEST_TIMEOUT=7000").unwrap();
    writeln!(f, "MAX_RETRY_ATTEMPTS=5").unwrap();
    drop(f);
    let config = config_from_sources(Some(&path), pairs(&[("REQUEST_TIMEOUT", "9000")])).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(config.api_key.expose(), "sk_from_file_0123456789");
    assert_eq!(config.request_timeout, Duration::from_millis(9000));
    assert_eq!(config.max_retry_attempts, 5);
    // The process environment was only read, never written.
    assert!(std::env::var_os("MAX_RETRY_ATTEMPTS").is_none());
}

#[test]
fn a_missing_dotenv_file_is_no_error() {
    let missing = std::env::temp_dir().join("novitai-no-such-dotenv-file");
    let config = config_from_sources(
        Some(&missing),
        pairs(&[("NOVITA_API_KEY", "sk_test_0123456789")]),
    )
    .unwrap();
    assert_eq!(config.max_retry_attempts, 3);
}

#[test]
fn building_outside_a_runtime_is_an_error_not_a_panic() {
    let config = novitai_core::config::Config::new("sk_test_0123456789");
    let err = Novita::new(config).unwrap_err();
    assert!(
        matches!(err, BuildError::Driver(DriverError::NoRuntime)),
        "{err:?}"
    );
    assert!(err.to_string().contains("tokio runtime"));
}
