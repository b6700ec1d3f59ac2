//! `govops cost` and `govops models` as scripts call them.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::process::{Command, Output};

fn govops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_govops"))
        .args(args)
        .env_remove("GOVOPS_PRICE_TABLE")
        .output()
        .unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn one_call_priced_exactly_with_its_breakdown() {
    let out = govops(&[
        "cost",
        "--model",
        "claude-3-7-sonnet-20250219",
        "--input-tokens",
        "10000",
        "--cache-read-tokens",
        "2000",
        "--cache-creation-tokens",
        "1000",
        "--cache-creation-1h-tokens",
        "500",
        "--output-tokens",
        "2000",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["cost_usd"], "0.05685");
    assert_eq!(
        v["breakdown"]["cache_creation_1h"]["rate_key"],
        "cache_creation_input_token_cost_above_1hr"
    );
    assert_eq!(v["breakdown"]["input"]["tokens"], 6500);
    assert_eq!(v["price_table_sha256"].as_str().unwrap().len(), 64);
    let text = govops(&[
        "cost",
        "--model",
        "gpt-4o",
        "--input-tokens",
        "1000",
        "--output-tokens",
        "10",
    ]);
    assert_eq!(text.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&text.stdout).contains("$0.0026"));
}

#[test]
fn an_unknown_model_exits_3_naming_the_nearest_keys_and_is_never_zero() {
    let out = govops(&[
        "cost",
        "--model",
        "gpt-4o-mnii",
        "--input-tokens",
        "1",
        "--output-tokens",
        "1",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let v = json(&out);
    assert_eq!(v["cost_usd"], serde_json::Value::Null);
    assert_eq!(v["violations"], serde_json::json!(["unpriced_model"]));
    assert_eq!(v["nearest"][0], "gpt-4o-mini");
    assert!(String::from_utf8_lossy(&out.stderr).contains("gpt-4o-mini"));
}

#[test]
fn service_tier_provider_and_a_price_table_file() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t.json");
    std::fs::write(&table, r#"{"acme/m1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "input_cost_per_token_batches": 5e-07}}"#)
        .unwrap();
    let args = [
        "cost",
        "--model",
        "m1",
        "--provider",
        "acme",
        "--input-tokens",
        "1000",
        "--output-tokens",
        "0",
    ];
    let mut batch = args.to_vec();
    batch.extend([
        "--service-tier",
        "batch",
        "--price-table",
        table.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let out = govops(&batch);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["cost_usd"], "0.0005");
    let bad_tier = govops(&[
        "cost",
        "--model",
        "m",
        "--input-tokens",
        "1",
        "--output-tokens",
        "1",
        "--service-tier",
        "turbo",
    ]);
    assert_eq!(bad_tier.status.code(), Some(2));
}

#[test]
fn contradictory_usage_and_bad_tables_exit_2() {
    let out = govops(&[
        "cost",
        "--model",
        "gpt-4o",
        "--input-tokens",
        "5",
        "--cache-read-tokens",
        "6",
        "--output-tokens",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cache_read (6)"));
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("bad.json");
    std::fs::write(&table, r#"{"m": {"input_cost_per_token": "free"}}"#).unwrap();
    let out = govops(&["models", "--price-table", table.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(r#"model "m", field "input_cost_per_token""#)
    );
}

#[test]
fn models_lists_what_the_table_prices() {
    let out = govops(&["models", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    let models = v["models"].as_array().unwrap();
    assert!(models.len() > 200);
    let sonnet = models
        .iter()
        .find(|m| m["model"] == "claude-3-7-sonnet-20250219")
        .unwrap();
    assert_eq!(sonnet["input_cost_per_token"], "0.000003");
    assert_eq!(sonnet["max_input_tokens"], 200000);
    let text = govops(&["models"]);
    assert!(String::from_utf8_lossy(&text.stdout).lines().count() > 200);
}
