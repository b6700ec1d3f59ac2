//! `govops models`: the models the price table prices, with their rates.

use std::io::{self, Write};
use std::process::ExitCode;

use govops_core::{PriceTable, Rate};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::shared::out::{self, Format, esc};
use crate::shared::prices::{self, decimal};

/// What `govops models` is asked.
#[derive(Debug, clap::Args)]
pub(crate) struct ModelsArgs {
    /// A price table instead of GOVOPS_PRICE_TABLE or the embedded one.
    #[arg(long, value_name = "FILE")]
    price_table: Option<std::path::PathBuf>,
    /// The list's format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// `govops models`: exit 0 with the list, 2 when the price table cannot be read.
pub(crate) fn run(args: &ModelsArgs) -> ExitCode {
    match prices::table(args.price_table.as_deref()) {
        Ok(table) => models(&table, args.format),
        Err(code) => code,
    }
}

fn models(table: &PriceTable, format: Format) -> ExitCode {
    let mut stdout = out::stdout();
    let written = write_models(&mut stdout, table, format);
    out::finish(&mut stdout, written, ExitCode::SUCCESS)
}

fn write_models(out: &mut impl Write, table: &PriceTable, format: Format) -> io::Result<()> {
    let priced = table
        .models()
        .filter(|m| m.base_rate(Rate::Input).is_some());
    match format {
        Format::Json => {
            let list: Vec<Value> = priced
                .map(|m| {
                    json!({
                        "model": m.key(),
                        "provider": m.provider(),
                        "mode": m.mode(),
                        "input_cost_per_token": m.base_rate(Rate::Input).map(decimal),
                        "output_cost_per_token": m.base_rate(Rate::Output).map(decimal),
                        "max_input_tokens": m.max_input_tokens(),
                        "max_output_tokens": m.max_output_tokens(),
                    })
                })
                .collect();
            out::json(
                out,
                &json!({"price_table_sha256": table.sha256(), "models": list}),
                false,
            )
        }
        Format::Text => {
            writeln!(
                out,
                "{:<48} {:<28} {:>14} {:>14} {:>10}",
                "model", "provider", "input $/Mtok", "output $/Mtok", "max input"
            )?;
            let per_million = |d: Option<Decimal>| {
                d.map_or_else(
                    || "-".to_owned(),
                    |d| {
                        d.checked_mul(Decimal::from(1_000_000))
                            .map_or_else(|| "too large".to_owned(), decimal)
                    },
                )
            };
            for m in priced {
                writeln!(
                    out,
                    "{:<48} {:<28} {:>14} {:>14} {:>10}",
                    esc(m.key()),
                    esc(m.provider().unwrap_or("-")),
                    per_million(m.base_rate(Rate::Input)),
                    per_million(m.base_rate(Rate::Output)),
                    m.max_input_tokens()
                        .map_or_else(|| "-".to_owned(), |n| n.to_string())
                )?;
            }
            Ok(())
        }
    }
}
