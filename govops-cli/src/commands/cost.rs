//! `govops cost`: one call, or one JSON request per stdin line, priced exactly from the price
//! table.

use std::io::{self, BufRead, Read, Write};
use std::process::ExitCode;

use govops_core::{Cost, PriceTable, Pricing, ServiceTier, Usage};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::shared::out::{self, Format, err, esc};
use crate::shared::prices::{self, decimal};

/// Exit code for a model the table cannot price.
const UNPRICED: u8 = 3;
/// Exit code for input that cannot be used.
const BAD_INPUT: u8 = 2;

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

/// What `govops cost` is asked: one call's model and token counts, or `--jsonl`.
#[derive(Debug, clap::Args)]
pub(crate) struct CostArgs {
    /// The model, as the price table keys it (or provider/model).
    #[arg(long, required_unless_present = "jsonl", conflicts_with = "jsonl")]
    model: Option<String>,
    /// All input tokens, cached ones included.
    #[arg(long, value_name = "N", required_unless_present = "jsonl")]
    input_tokens: Option<u64>,
    /// All output tokens, reasoning included.
    #[arg(long, value_name = "N", required_unless_present = "jsonl")]
    output_tokens: Option<u64>,
    /// Input tokens read from the cache.
    #[arg(long, value_name = "N", default_value_t = 0)]
    cache_read_tokens: u64,
    /// Input tokens written to the 5-minute cache.
    #[arg(long, value_name = "N", default_value_t = 0)]
    cache_creation_tokens: u64,
    /// Input tokens written to the 1-hour cache.
    #[arg(
        long = "cache-creation-1h-tokens",
        value_name = "N",
        default_value_t = 0
    )]
    cache_creation_1h_tokens: u64,
    /// Output tokens spent on reasoning.
    #[arg(long, value_name = "N", default_value_t = 0)]
    reasoning_tokens: u64,
    /// standard, batch, flex or priority.
    #[arg(long, value_name = "T", default_value = "standard")]
    service_tier: ServiceTier,
    /// The provider, for `provider/model` keys.
    #[arg(long, value_name = "P")]
    provider: Option<String>,
    /// A price table instead of GOVOPS_PRICE_TABLE or the embedded one.
    #[arg(long, value_name = "FILE")]
    price_table: Option<std::path::PathBuf>,
    /// The result's format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Read one JSON request per line from stdin; write one JSON result per line.
    #[arg(long)]
    jsonl: bool,
}

/// `govops cost`: exit 0 with the price, 3 when the model is unpriced (never $0), 2 on an input
/// that cannot be used.
pub(crate) fn run(args: &CostArgs) -> ExitCode {
    let table = match prices::table(args.price_table.as_deref()) {
        Ok(table) => table,
        Err(code) => return code,
    };
    if args.jsonl {
        return jsonl(&table);
    }
    let call = Call {
        model: args.model.as_deref().unwrap_or_default(),
        provider: args.provider.as_deref(),
        usage: Usage {
            input: args.input_tokens.unwrap_or_default(),
            output: args.output_tokens.unwrap_or_default(),
            cache_read: args.cache_read_tokens,
            cache_creation: args.cache_creation_tokens,
            cache_creation_1h: args.cache_creation_1h_tokens,
            reasoning: args.reasoning_tokens,
        },
        tier: args.service_tier,
    };
    one(&table, &call, args.format)
}

/// One call's parameters from the command line.
struct Call<'a> {
    model: &'a str,
    provider: Option<&'a str>,
    usage: Usage,
    tier: ServiceTier,
}

fn one(table: &PriceTable, call: &Call<'_>, format: Format) -> ExitCode {
    let pricing = match table.price(call.model, call.provider, &call.usage, call.tier) {
        Ok(pricing) => pricing,
        Err(error) => {
            err!(
                "govops: cannot price this usage: {}",
                esc(&error.to_string())
            );
            return ExitCode::from(BAD_INPUT);
        }
    };
    let mut stdout = out::stdout();
    match pricing {
        Pricing::Priced(cost) => {
            let written = match format {
                Format::Json => out::json(&mut stdout, &priced_json(&cost), false),
                Format::Text => write_text(&mut stdout, &cost),
            };
            out::finish(&mut stdout, written, ExitCode::SUCCESS)
        }
        Pricing::Unpriced(why) => {
            let nearest = table.nearest(call.model, 5);
            let mut written = Ok(());
            if format == Format::Json {
                let mut value = unpriced_json();
                value["nearest"] = json!(nearest);
                written = out::json(&mut stdout, &value, false);
            }
            err!(
                "govops: {} is unpriced: {}; it is never priced at $0.",
                esc(&format!("{:?}", call.model)),
                esc(&why.to_string())
            );
            if table.lookup(call.model, call.provider).is_none() {
                let nearest: Vec<_> = nearest.iter().map(|k| esc(k)).collect();
                err!(
                    "govops: the nearest keys in the price table: {}",
                    nearest.join(", ")
                );
            }
            out::finish(&mut stdout, written, ExitCode::from(UNPRICED))
        }
    }
}

fn write_text(out: &mut impl Write, cost: &Cost<'_>) -> io::Result<()> {
    let provider = cost
        .model
        .provider()
        .map(|p| format!(" ({})", esc(p)))
        .unwrap_or_default();
    writeln!(
        out,
        "{}{provider}, {} tier: ${}",
        esc(cost.model.key()),
        cost.service_tier,
        decimal(cost.total_usd)
    )?;
    for line in cost.lines.iter().filter(|l| l.tokens > 0) {
        let key = line.rate.map(|k| k.to_string()).unwrap_or_default();
        writeln!(
            out,
            "  {:<18} {:>10} × {:<14} = {:<14} {}",
            line.component.name(),
            line.tokens,
            decimal(line.rate_usd),
            decimal(line.cost_usd),
            esc(&key)
        )?;
    }
    writeln!(out, "  price table sha256 {}", cost.table_sha256)
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
    // serde_json keeps the last of two equal keys: a request must mean one thing to every reader.
    if let Err(e @ govops_core::json::JsonKeyError::Duplicate { .. }) =
        govops_core::json::unique_keys(line)
    {
        return json!({"error": format!("not a cost request: {e}")});
    }
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

fn jsonl(table: &PriceTable) -> ExitCode {
    let mut stdin = io::stdin().lock();
    let mut stdout = out::stdout();
    let written = jsonl_lines(table, &mut stdin, &mut stdout);
    out::finish(&mut stdout, written, ExitCode::SUCCESS)
}

/// The longest `--jsonl` request line: a request is a few hundred bytes, and a line without a
/// newline must not take unbounded memory.
const JSONL_LINE_MAX: u64 = 1 << 20;

fn jsonl_lines(
    table: &PriceTable,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = input
            .by_ref()
            .take(JSONL_LINE_MAX + 1)
            .read_until(b'\n', &mut line);
        let value = match read {
            Ok(0) => return Ok(()),
            Ok(_) if !line.ends_with(b"\n") && line.len() as u64 > JSONL_LINE_MAX => {
                skip_line(input)?;
                json!({"error": format!("a line longer than {JSONL_LINE_MAX} bytes; one JSON request per line is accepted")})
            }
            Ok(_) => match std::str::from_utf8(&line) {
                Ok(text) if text.trim().is_empty() => json!({"error": "empty line"}),
                Ok(text) => jsonl_line(table, text.trim_end_matches(['\n', '\r'])),
                Err(e) => json!({"error": format!("unreadable line: not UTF-8 ({e})")}),
            },
            Err(e) => json!({"error": format!("unreadable line: {e}")}),
        };
        out::json(out, &value, false)?;
    }
}

/// Skips the rest of an over-long line, to its newline, in bounded pieces.
fn skip_line(input: &mut impl BufRead) -> io::Result<()> {
    let mut rest = Vec::new();
    loop {
        rest.clear();
        let read = input.by_ref().take(1 << 16).read_until(b'\n', &mut rest)?;
        if read == 0 || rest.ends_with(b"\n") {
            return Ok(());
        }
    }
}
