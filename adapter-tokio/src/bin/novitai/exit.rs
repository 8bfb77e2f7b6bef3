//! Exit codes and the one error type every command returns.

use std::fmt;

use novitai_tokio::{BuildError, Error};

/// Success.
pub const OK: i32 = 0;
/// Anything else: bad arguments, an invalid webhook, I/O.
pub const OTHER: i32 = 1;
/// The configuration (environment, `.env`, flags) is invalid.
pub const CONFIG: i32 = 2;
/// The API refused the call or could not be reached, or the instance failed
/// to start.
pub const API: i32 = 3;
/// An operation did not finish in time.
pub const TIMEOUT: i32 = 4;

/// The exit-code table shown at the end of `novitai --help`.
pub const HELP: &str = "\
Exit codes:
  0  ok
  1  other error (bad argument, invalid webhook signature, I/O)
  2  configuration error (every problem is listed; fix NOVITA_API_KEY etc. or .env)
  3  API error (the server refused the call or could not be reached, or the
     instance failed to start)
  4  timeout (an instance did not reach the wanted state in time)

Configuration: NOVITA_API_KEY (required for API commands), NOVITA_API_BASE_URL,
INSTANCE_POLL_INTERVAL, ... from the environment or a .env file; --base-url overrides
the base URL. Try it without an account: `novitai sim serve` in one terminal.";

/// Why a command failed; each variant has its exit code.
#[derive(Debug)]
pub enum CliError {
    /// Invalid configuration: every problem, one per line.
    Config(String),
    /// An API call failed.
    Api {
        /// What was being done, e.g. "listing clusters".
        doing: String,
        /// The client's error.
        error: Error,
    },
    /// Something did not finish in time.
    Timeout(String),
    /// The instance failed to start (the message says what to do next).
    Failed(String),
    /// Anything else.
    Other(String),
}

impl CliError {
    /// The process exit code.
    pub fn code(&self) -> i32 {
        match self {
            CliError::Config(_) => CONFIG,
            CliError::Api { error, .. } if error.label() == "timeout" => TIMEOUT,
            CliError::Api { .. } | CliError::Failed(_) => API,
            CliError::Timeout(_) => TIMEOUT,
            CliError::Other(_) => OTHER,
        }
    }

    /// An API error while `doing` something.
    pub fn api(doing: impl Into<String>) -> impl FnOnce(Error) -> CliError {
        let doing = doing.into();
        move |error| CliError::Api { doing, error }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Config(problems) => write!(
                f,
                "the configuration is invalid:\n{problems}\n\
                 Set the variables in the environment or in a .env file (see README.md), \
                 or try `novitai sim serve` for a local simulator."
            ),
            CliError::Api { doing, error } => {
                write!(f, "{doing} failed: {error}")?;
                if error.is_transient() {
                    f.write_str("\nThis may pass on its own: try again in a minute.")
                } else {
                    Ok(())
                }
            }
            CliError::Timeout(what) | CliError::Failed(what) => write!(f, "{what}"),
            CliError::Other(what) => write!(f, "{what}"),
        }
    }
}

impl From<BuildError> for CliError {
    fn from(e: BuildError) -> CliError {
        match e {
            BuildError::Config(problems) => CliError::Config(
                problems
                    .to_string()
                    .lines()
                    .map(|l| format!("  - {l}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            BuildError::DotEnv(e) => CliError::Config(format!(
                "  - the .env file could not be read: {e}; fix or remove it"
            )),
            other => CliError::Other(other.to_string()),
        }
    }
}
