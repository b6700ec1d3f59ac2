//! `govops cost` and `govops models`: exact prices from the price table.

use std::io::{self, BufRead, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use govops_core::contract::vars;
use govops_core::{Cost, PriceTable, Pricing, Rate, ServiceTier, Usage};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Format;

/// Exit code for a model the table cannot price.
const UNPRICED: u8 = 3;
/// Exit code for input that cannot be used.
const BAD_INPUT: u8 = 2;

/// The table: `--price-table`, else `GOVOPS_PRICE_TABLE`, else the embedded one.
pub(crate) fn table(path: Option<&Path>) -> Result<Arc<PriceTable>, ExitCode> {
    let from_env = std::env::var_os(vars::PRICE_TABLE).filter(|v| !v.is_empty());
    let (path, origin) = match (path, &from_env) {
        (Some(p), _) => (p, "--price-table"),
        (None, Some(p)) => (Path::new(p), vars::PRICE_TABLE),
        (None, None) => return Ok(PriceTable::embedded()),
    };
    let text = govops_core::input::read_text_bounded(path, govops_core::input::PRICE_TABLE_MAX)
        .map_err(|e| {
            eprintln!("govops: cannot read the price table ({origin}): {e}",);
            ExitCode::from(BAD_INPUT)
        })?;
    PriceTable::parse(&text).map(Arc::new).map_err(|problems| {
        eprintln!(
            "govops: {} ({origin}) is not a valid price table:",
            path.display()
        );
        for problem in problems {
            eprintln!("  - {problem}");
        }
        ExitCode::from(BAD_INPUT)
    })
}

fn decimal(d: Decimal) -> String {
    d.normalize().to_string()
}

/// The JSON of a priced call: `{"cost_usd", "breakdown", "model", "price_table_sha256"}`.
fn priced_json(cost: &Cost<'_>) -> Value {
    let breakdown: serde_json::Map<String, Value> = cost
        .lines
        .iter()
        .map(|line| {
            (
                line.component.name().to_owned(),
                json!({
                    "tokens": line.tokens,
                    "rate_usd": decimal(line.rate_usd),
                    "rate_key": line.rate.map(|k| k.to_string()),
                    "cost_usd": decimal(line.cost_usd),
                }),
            )
        })
        .collect();
    json!({
        "cost_usd": decimal(cost.total_usd),
        "breakdown": breakdown,
        "model": cost.model.key(),
        "service_tier": cost.service_tier.as_str(),
        "price_table_sha256": cost.table_sha256,
    })
}

/// The exact shape for an unpriced call; the reason goes to stderr in the one-call form.
fn unpriced_json() -> Value {
    json!({"cost_usd": null, "violations": ["unpriced_model"]})
}

/// One call's parameters from the command line.
pub(crate) struct Call<'a> {
    pub(crate) model: &'a str,
    pub(crate) provider: Option<&'a str>,
    pub(crate) usage: Usage,
    pub(crate) tier: ServiceTier,
}

pub(crate) fn one(table: &PriceTable, call: &Call<'_>, format: Format) -> ExitCode {
    let pricing = match table.price(call.model, call.provider, &call.usage, call.tier) {
        Ok(pricing) => pricing,
        Err(error) => {
            eprintln!("govops: cannot price this usage: {error}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    match pricing {
        Pricing::Priced(cost) => {
            match format {
                Format::Json => println!("{}", priced_json(&cost)),
                Format::Text => print_text(&cost),
            }
            ExitCode::SUCCESS
        }
        Pricing::Unpriced(why) => {
            let nearest = table.nearest(call.model, 5);
            if format == Format::Json {
                let mut value = unpriced_json();
                value["nearest"] = json!(nearest);
                println!("{value}");
            }
            eprintln!(
                "govops: {:?} is unpriced: {why}; it is never priced at $0.",
                call.model
            );
            if table.lookup(call.model, call.provider).is_none() {
                eprintln!(
                    "govops: the nearest keys in the price table: {}",
                    nearest.join(", ")
                );
            }
            ExitCode::from(UNPRICED)
        }
    }
}

fn print_text(cost: &Cost<'_>) {
    let provider = cost
        .model
        .provider()
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    println!(
        "{}{provider}, {} tier: ${}",
        cost.model.key(),
        cost.service_tier,
        decimal(cost.total_usd)
    );
    for line in cost.lines.iter().filter(|l| l.tokens > 0) {
        let key = line.rate.map(|k| k.to_string()).unwrap_or_default();
        println!(
            "  {:<18} {:>10} × {:<14} = {:<14} {key}",
            line.component.name(),
            line.tokens,
            decimal(line.rate_usd),
            decimal(line.cost_usd)
        );
    }
    println!("  price table sha256 {}", cost.table_sha256);
}

/// One line of `--jsonl` input.
#[derive(Deserialize)]
struct JsonCall {
    model: String,
    provider: Option<String>,
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_read_tokens: u64,
    #[serde(default)]
    cache_creation_tokens: u64,
    #[serde(default)]
    cache_creation_1h_tokens: u64,
    #[serde(default)]
    reasoning_tokens: u64,
    #[serde(default)]
    service_tier: Option<String>,
}

fn jsonl_line(table: &PriceTable, line: &str) -> Value {
    let object: serde_json::Map<String, Value> = match serde_json::from_str(line) {
        Ok(object) => object,
        Err(e) => return json!({"error": format!("not a JSON object: {e}")}),
    };
    // `provider` is one of the three required keys, though it may be null.
    if !object.contains_key("provider") {
        return json!({"error": "missing field `provider` (it may be null)"});
    }
    let call: JsonCall = match serde_json::from_value(Value::Object(object)) {
        Ok(call) => call,
        Err(e) => return json!({"error": format!("not a cost request: {e}")}),
    };
    let tier = match call
        .service_tier
        .as_deref()
        .map(str::parse::<ServiceTier>)
        .transpose()
    {
        Ok(tier) => tier.unwrap_or_default(),
        Err(e) => return json!({"error": e}),
    };
    let usage = Usage {
        input: call.input_tokens,
        output: call.output_tokens,
        cache_read: call.cache_read_tokens,
        cache_creation: call.cache_creation_tokens,
        cache_creation_1h: call.cache_creation_1h_tokens,
        reasoning: call.reasoning_tokens,
    };
    match table.price(&call.model, call.provider.as_deref(), &usage, tier) {
        Ok(Pricing::Priced(cost)) => priced_json(&cost),
        Ok(Pricing::Unpriced(_)) => unpriced_json(),
        Err(e) => json!({"error": e.to_string()}),
    }
}

pub(crate) fn jsonl(table: &PriceTable) -> ExitCode {
    let stdin = io::stdin().lock();
    let mut out = BufWriter::new(io::stdout().lock());
    for line in stdin.lines() {
        let value = match line {
            Ok(line) if line.trim().is_empty() => json!({"error": "empty line"}),
            Ok(line) => jsonl_line(table, &line),
            Err(e) => json!({"error": format!("unreadable line: {e}")}),
        };
        if writeln!(out, "{value}").is_err() {
            // The reader went away (a closed pipe): nothing left to write to.
            return ExitCode::from(BAD_INPUT);
        }
    }
    if out.flush().is_err() {
        return ExitCode::from(BAD_INPUT);
    }
    ExitCode::SUCCESS
}

pub(crate) fn models(table: &PriceTable, format: Format) -> ExitCode {
    let mut out = BufWriter::new(io::stdout().lock());
    // A reader that stops early (`| head`) is not an error.
    let _ = write_models(&mut out, table, format).and_then(|()| out.flush());
    ExitCode::SUCCESS
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
            writeln!(
                out,
                "{}",
                json!({"price_table_sha256": table.sha256(), "models": list})
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
                    m.key(),
                    m.provider().unwrap_or("-"),
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
