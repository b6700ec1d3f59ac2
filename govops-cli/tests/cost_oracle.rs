//! `govops cost --jsonl` against an independent computation of contract section 7
//! (`tests/oracle/cost_oracle.py`, Python's Decimal over the table's JSON text), over hundreds of
//! generated calls across every model of the embedded table.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::io::Write;
use std::process::{Command, Stdio};
use std::str::FromStr;

use govops_core::PriceTable;
use govops_core::prices::EMBEDDED_JSON;
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// A small deterministic generator, so a failure reproduces.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.below(items.len() as u64)).unwrap()]
    }
}

fn cases() -> Vec<Value> {
    let table = PriceTable::embedded();
    let mut rng = Lcg(0x5eed);
    let inputs = [
        0, 1, 999, 4_096, 128_000, 128_001, 200_000, 200_001, 272_000, 272_001, 1_000_000,
    ];
    let tiers = ["standard", "batch", "flex", "priority"];
    let mut cases = Vec::new();
    for model in table.models() {
        for round in 0..4 {
            let input = if round < 2 {
                *rng.pick(&inputs)
            } else {
                rng.below(400_000)
            };
            let cache_read = rng.below(input / 2 + 1);
            let cache_creation = rng.below((input - cache_read) / 2 + 1);
            let cache_creation_1h = rng.below(input - cache_read - cache_creation + 1);
            let output = if round == 3 { 0 } else { rng.below(50_000) };
            let reasoning = rng.below(output + 1);
            let name = match round {
                // The provider-prefixed form must resolve to the same entry.
                1 => format!("{}/{}", model.provider().unwrap_or("p"), model.key()),
                _ => model.key().to_owned(),
            };
            cases.push(json!({
                "model": name,
                "provider": model.provider(),
                "input_tokens": input,
                "output_tokens": output,
                "cache_read_tokens": cache_read,
                "cache_creation_tokens": cache_creation,
                "cache_creation_1h_tokens": cache_creation_1h,
                "reasoning_tokens": reasoning,
                "service_tier": rng.pick(&tiers),
            }));
        }
        // Near misses are unknown, never $0.
        cases.push(json!({"model": format!("{}-x", model.key()), "provider": null, "input_tokens": 10, "output_tokens": 1}));
    }
    // Contradictory usage is an error on both sides.
    cases.push(
        json!({"model": "gpt-4o", "provider": "openai", "input_tokens": 5, "cache_read_tokens": 6}),
    );
    cases.push(json!({"model": "gpt-4o", "provider": "openai", "input_tokens": 5, "output_tokens": 1, "reasoning_tokens": 2}));
    cases
}

/// Runs `govops cost --jsonl` and the oracle over `cases` with `table`, compares every line, and
/// returns how many were priced and unpriced.
fn compare(table: &str, cases: &[Value]) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let requests: String = cases.iter().map(|c| format!("{c}\n")).collect();
    let requests_path = dir.path().join("requests.jsonl");
    std::fs::write(&requests_path, &requests).unwrap();
    let table_path = dir.path().join("table.json");
    std::fs::write(&table_path, table).unwrap();

    let mut govops = Command::new(env!("CARGO_BIN_EXE_govops"))
        .args(["cost", "--jsonl", "--price-table"])
        .arg(&table_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = govops.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(requests.as_bytes()).unwrap());
    let output = govops.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success());

    let oracle = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/oracle/cost_oracle.py"
        ))
        .arg(&table_path)
        .arg(&requests_path)
        .output()
        .expect("python3 runs the independent oracle");
    assert!(
        oracle.status.success(),
        "{}",
        String::from_utf8_lossy(&oracle.stderr)
    );

    let ours: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected: Vec<String> = String::from_utf8(oracle.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(ours.len(), cases.len(), "one output line per input line");
    assert_eq!(expected.len(), cases.len());

    let (mut priced, mut unpriced) = (0, 0);
    for ((case, ours), expected) in cases.iter().zip(&ours).zip(&expected) {
        match expected.as_str() {
            "error" => assert!(ours.get("error").is_some(), "{case} -> {ours}"),
            "unpriced" => {
                assert_eq!(
                    ours,
                    &json!({"cost_usd": null, "violations": ["unpriced_model"]}),
                    "{case}"
                );
                unpriced += 1;
            }
            exact => {
                let got = ours["cost_usd"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{case} -> {ours}"));
                assert_eq!(
                    Decimal::from_str(got).unwrap(),
                    Decimal::from_str(exact).unwrap(),
                    "{case}"
                );
                assert_eq!(got, exact, "the same digits: {case}");
                priced += 1;
            }
        }
    }
    (priced, unpriced)
}

#[test]
fn govops_cost_jsonl_agrees_with_an_independent_computation_to_the_last_digit() {
    let cases = cases();
    assert!(cases.len() > 1000, "{}", cases.len());
    let (priced, unpriced) = compare(EMBEDDED_JSON, &cases);
    assert!(priced > 800, "{priced}");
    assert!(unpriced >= 218, "every near miss is unpriced: {unpriced}");
}

/// Rates the embedded table happens not to combine: a reasoning rate without an output rate, a
/// service rate without a plain one, tiers on some components only (the 1-hour write included),
/// the older cache-hit name, a zero price, a provider-prefixed key.
const EDGES: &str = r#"{
  "reason-only": {"input_cost_per_token": 1e-06, "output_cost_per_reasoning_token": 3e-06},
  "service-only": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "cache_read_input_token_cost_priority": 5e-08},
  "tiered": {
    "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
    "cache_creation_input_token_cost": 1.25e-06, "cache_creation_input_token_cost_above_1hr": 2e-06,
    "cache_creation_input_token_cost_above_1hr_above_200k_tokens": 4e-06,
    "input_cost_per_token_above_128k_tokens": 1.5e-06, "input_cost_per_token_above_200k_tokens": 2e-06,
    "input_cost_per_token_above_200k_tokens_priority": 3e-06, "output_cost_per_token_above_200k_tokens": 4e-06,
    "output_cost_per_token_above_200k_tokens_batches": 1e-06, "output_cost_per_token_priority": 2.5e-06,
    "output_cost_per_reasoning_token_above_128k_tokens": 5e-06, "cache_read_input_token_cost": 1e-07
  },
  "hit": {"input_cost_per_token": 1e-06, "input_cost_per_token_cache_hit": 2e-07, "output_cost_per_token": 2e-06},
  "embed": {"input_cost_per_token": 1e-07, "mode": "embedding"},
  "no-input": {"output_cost_per_token": 1e-06},
  "acme/prefixed": {"input_cost_per_token": 7e-07, "output_cost_per_token": 9e-07},
  "zero": {"input_cost_per_token": 0, "output_cost_per_token": 0}
}"#;

#[test]
fn the_oracle_and_govops_agree_on_rate_combinations_the_embedded_table_lacks() {
    let mut rng = Lcg(0xed9e);
    let inputs = [0, 1, 128_000, 128_001, 200_000, 200_001, 500_000];
    let tiers = ["standard", "batch", "flex", "priority"];
    let names = [
        ("reason-only", None),
        ("service-only", None),
        ("tiered", None),
        ("hit", None),
        ("embed", None),
        ("no-input", None),
        ("prefixed", Some("acme")),
        ("zero", None),
    ];
    let mut cases = Vec::new();
    for (model, provider) in names {
        for round in 0..40 {
            let input = if round % 2 == 0 {
                *rng.pick(&inputs)
            } else {
                rng.below(600_000)
            };
            let cache_read = rng.below(input / 3 + 1);
            let cache_creation = rng.below((input - cache_read) / 2 + 1);
            let cache_creation_1h = rng.below(input - cache_read - cache_creation + 1);
            let output = if round % 5 == 0 { 0 } else { rng.below(30_000) };
            let reasoning = if round % 3 == 0 {
                output
            } else {
                rng.below(output + 1)
            };
            cases.push(json!({
                "model": model, "provider": provider, "input_tokens": input, "output_tokens": output,
                "cache_read_tokens": cache_read, "cache_creation_tokens": cache_creation,
                "cache_creation_1h_tokens": cache_creation_1h, "reasoning_tokens": reasoning,
                "service_tier": rng.pick(&tiers),
            }));
        }
    }
    let (priced, unpriced) = compare(EDGES, &cases);
    assert!(priced > 200, "{priced}");
    assert!(
        unpriced > 40,
        "reason-only with output, embed with output, no-input: {unpriced}"
    );
}
