//! What every API command shares: building the client, printing tables and
//! JSON, and the wall clock.

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use novitai_tokio::Novita;
use serde::Serialize;

use crate::exit::CliError;

/// Options every API command takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Global {
    /// Print JSON (the typed results, serde_json) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Send requests here instead of NOVITA_API_BASE_URL, e.g. the URL
    /// `novitai sim serve` prints.
    #[arg(long, global = true, value_name = "URL")]
    pub base_url: Option<String>,
}

/// The client from the environment and `.env` (`NOVITA_API_KEY`, ...), with
/// `--base-url` applied. A bad configuration lists every problem.
pub fn client(g: &Global) -> Result<Novita, CliError> {
    let mut b = Novita::builder();
    if let Some(url) = &g.base_url {
        b = b.base_url(url.trim_end_matches('/'));
    }
    Ok(b.build()?)
}

/// Prints `value` as pretty JSON.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Other(format!("could not encode the result as JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// A table with `header`, sized to the terminal.
pub fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    t
}

/// `Some(x)` as text, `None` as `-`.
pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Wall-clock unix seconds.
pub fn unix_now() -> novitai_tokio::core::UnixTime {
    novitai_tokio::webhook::receiver::unix_now()
}
