use std::str::FromStr;

use rust_decimal::Decimal;

use crate::cost::{Component, Pricing, Unpriced};
use crate::prices::{PriceTable, Rate};
use crate::usage::{ServiceTier, Usage, UsageError};

const TABLE: &str = r#"{
  "m": {
    "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
    "cache_read_input_token_cost": 1e-07, "cache_creation_input_token_cost": 1.25e-06,
    "cache_creation_input_token_cost_above_1hr": 2e-06, "output_cost_per_reasoning_token": 3e-06,
    "input_cost_per_token_above_128k_tokens": 1.5e-06,
    "input_cost_per_token_above_200k_tokens": 2e-06, "output_cost_per_token_above_200k_tokens": 4e-06,
    "input_cost_per_token_batches": 5e-07, "input_cost_per_token_flex": 6e-07,
    "input_cost_per_token_above_200k_tokens_priority": 3e-06, "output_cost_per_token_priority": 2.5e-06
  },
  "bare": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
  "hit": {"input_cost_per_token": 1e-06, "input_cost_per_token_cache_hit": 2e-07, "output_cost_per_token": 2e-06},
  "embed": {"input_cost_per_token": 1e-07, "mode": "embedding"},
  "no-input": {"output_cost_per_token": 1e-06},
  "openai/gpt-x": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}
}"#;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn total(table: &PriceTable, model: &str, usage: Usage, tier: ServiceTier) -> Decimal {
    match table.price(model, None, &usage, tier).unwrap() {
        Pricing::Priced(cost) => cost.total_usd,
        Pricing::Unpriced(why) => panic!("{model}: {why}"),
    }
}

fn table() -> PriceTable {
    PriceTable::parse(TABLE).unwrap()
}

#[test]
fn input_and_output_at_their_base_rates() {
    assert_eq!(
        total(&table(), "m", Usage::new(1000, 500), ServiceTier::Standard),
        d("0.002")
    );
}

#[test]
fn long_context_tiers_start_one_token_above_the_boundary_and_the_highest_passed_wins() {
    let t = table();
    let cost = |input| total(&t, "m", Usage::new(input, 0), ServiceTier::Standard);
    assert_eq!(cost(128_000), d("0.128"));
    assert_eq!(cost(128_001), d("0.1920015"));
    assert_eq!(cost(200_000), d("0.3"));
    assert_eq!(cost(200_001), d("0.400002"));
    // Output has a 200k tier but no 128k tier: it keeps its base rate until 200k is passed.
    assert_eq!(
        total(&t, "m", Usage::new(150_000, 10), ServiceTier::Standard),
        d("0.225") + d("0.00002")
    );
    assert_eq!(
        total(&t, "m", Usage::new(200_001, 10), ServiceTier::Standard),
        d("0.400002") + d("0.00004")
    );
}

#[test]
fn each_service_tier_uses_its_own_rate_where_the_table_has_it() {
    let t = table();
    let usage = Usage::new(1000, 100);
    assert_eq!(
        total(&t, "m", usage, ServiceTier::Batch),
        d("0.0005") + d("0.0002")
    );
    assert_eq!(
        total(&t, "m", usage, ServiceTier::Flex),
        d("0.0006") + d("0.0002")
    );
    assert_eq!(
        total(&t, "m", usage, ServiceTier::Priority),
        d("0.001") + d("0.00025")
    );
    // Above 200k: the tiered input has a priority rate; the tiered output has none, so it keeps
    // the tiered rate, not the untiered priority one.
    let long = Usage::new(200_001, 100);
    assert_eq!(
        total(&t, "m", long, ServiceTier::Priority),
        d("0.600003") + d("0.0004")
    );
    assert_eq!(
        total(&t, "bare", usage, ServiceTier::Priority),
        d("0.001") + d("0.0002")
    );
}

#[test]
fn each_cache_bucket_at_its_rate_and_fallbacks() {
    let t = table();
    let usage = Usage {
        input: 1000,
        cache_read: 400,
        cache_creation: 100,
        cache_creation_1h: 50,
        ..Usage::default()
    };
    let Pricing::Priced(cost) = t.price("m", None, &usage, ServiceTier::Standard).unwrap() else {
        panic!()
    };
    let lines: Vec<_> = cost
        .lines
        .iter()
        .map(|l| (l.component, l.tokens, l.cost_usd))
        .collect();
    assert_eq!(
        lines,
        [
            (Component::Input, 450, d("0.00045")),
            (Component::CacheRead, 400, d("0.00004")),
            (Component::CacheCreation, 100, d("0.000125")),
            (Component::CacheCreation1h, 50, d("0.0001")),
            (Component::Output, 0, d("0")),
            (Component::Reasoning, 0, d("0")),
        ]
    );
    assert_eq!(cost.total_usd, d("0.000715"));
    assert_eq!(
        cost.lines[3].rate.unwrap().to_string(),
        "cache_creation_input_token_cost_above_1hr"
    );
    // No cache rates: every cached token at the input rate.
    assert_eq!(total(&t, "bare", usage, ServiceTier::Standard), d("0.001"));
    let Pricing::Priced(bare) = t
        .price("bare", None, &usage, ServiceTier::Standard)
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(bare.lines[3].rate.unwrap().rate, Rate::Input);
    // The older cache-hit name.
    let reads = Usage {
        input: 1000,
        cache_read: 1000,
        ..Usage::default()
    };
    assert_eq!(total(&t, "hit", reads, ServiceTier::Standard), d("0.0002"));
}

#[test]
fn the_1h_write_falls_back_to_the_5_minute_rate_before_the_input_rate() {
    let t = PriceTable::parse(
        r#"{"w": {"input_cost_per_token": 1e-06, "cache_creation_input_token_cost": 1.25e-06}}"#,
    )
    .unwrap();
    let usage = Usage {
        input: 100,
        cache_creation_1h: 100,
        ..Usage::default()
    };
    assert_eq!(total(&t, "w", usage, ServiceTier::Standard), d("0.000125"));
}

#[test]
fn reasoning_with_and_without_its_own_rate() {
    let t = table();
    let usage = Usage {
        output: 100,
        reasoning: 40,
        ..Usage::default()
    };
    assert_eq!(
        total(&t, "m", usage, ServiceTier::Standard),
        d("0.00012") + d("0.00012")
    );
    assert_eq!(total(&t, "bare", usage, ServiceTier::Standard), d("0.0002"));
}

#[test]
fn unpriced_is_never_zero() {
    let t = table();
    let usage = Usage::new(10, 0);
    assert_eq!(
        total(&t, "embed", usage, ServiceTier::Standard),
        d("0.000001")
    );
    let outcome =
        |model: &str, usage: Usage| t.price(model, None, &usage, ServiceTier::Standard).unwrap();
    assert_eq!(
        outcome("embed", Usage::new(10, 1)),
        Pricing::Unpriced(Unpriced::NoOutputRate)
    );
    assert_eq!(
        outcome("no-input", Usage::new(10, 1)),
        Pricing::Unpriced(Unpriced::NoInputRate)
    );
    assert_eq!(
        outcome("unknown", Usage::new(10, 1)),
        Pricing::Unpriced(Unpriced::UnknownModel)
    );
    assert_eq!(outcome("unknown", Usage::new(0, 0)).total_usd(), None);
}

#[test]
fn provider_prefixed_lookups() {
    let t = table();
    let usage = Usage::new(1, 1);
    assert!(
        t.price("gpt-x", Some("openai"), &usage, ServiceTier::Standard)
            .unwrap()
            .total_usd()
            .is_some()
    );
    assert!(
        t.price("gpt-x", None, &usage, ServiceTier::Standard)
            .unwrap()
            .total_usd()
            .is_none()
    );
    assert_eq!(
        total(&t, "azure/m", usage, ServiceTier::Standard),
        d("0.000003")
    );
}

#[test]
fn a_million_small_costs_sum_to_their_product_exactly() {
    let t = table();
    let usage = Usage {
        input: 3,
        output: 7,
        cache_read: 1,
        reasoning: 2,
        ..Usage::default()
    };
    let one = total(&t, "m", usage, ServiceTier::Standard);
    let mut sum = Decimal::ZERO;
    for _ in 0..1_000_000 {
        sum += one;
    }
    assert_eq!(one, d("0.0000181")); // 2 × 1e-6 + 1 × 1e-7 + 5 × 2e-6 + 2 × 3e-6
    assert_eq!(sum, one * Decimal::from(1_000_000));
    assert_eq!(sum, d("18.1"));
}

#[test]
fn contradictory_usage_is_rejected_not_priced() {
    let t = table();
    let over = Usage {
        input: 10,
        cache_read: 11,
        ..Usage::default()
    };
    assert!(matches!(
        t.price("m", None, &over, ServiceTier::Standard),
        Err(UsageError::CacheExceedsInput { .. })
    ));
    let reasoning = Usage {
        output: 1,
        reasoning: 2,
        ..Usage::default()
    };
    assert!(matches!(
        t.price("m", None, &reasoning, ServiceTier::Standard),
        Err(UsageError::ReasoningExceedsOutput { .. })
    ));
    let huge = Usage::new(u64::MAX, u64::MAX);
    assert!(
        t.price("m", None, &huge, ServiceTier::Standard).is_ok(),
        "u64::MAX tokens still fit exactly"
    );
}

#[test]
fn a_real_model_from_the_embedded_table_by_hand() {
    let t = PriceTable::embedded();
    // claude-3-7-sonnet: input 3e-06, cache read 3e-07, 5-min write 3.75e-06, 1-h write 6e-06, output 1.5e-05.
    let usage = Usage {
        input: 10_000,
        cache_read: 2000,
        cache_creation: 1000,
        cache_creation_1h: 500,
        output: 2000,
        reasoning: 0,
    };
    // 6500 × 3e-6 + 2000 × 3e-7 + 1000 × 3.75e-6 + 500 × 6e-6 + 2000 × 1.5e-5
    assert_eq!(
        total(
            &t,
            "claude-3-7-sonnet-20250219",
            usage,
            ServiceTier::Standard
        ),
        d("0.05685")
    );
}

#[test]
fn output_without_an_output_rate_is_unpriced_even_when_it_is_all_reasoning() {
    let t = PriceTable::parse(
        r#"{"r": {"input_cost_per_token": 1e-06, "output_cost_per_reasoning_token": 3e-06}}"#,
    )
    .unwrap();
    let usage = Usage {
        input: 10,
        output: 10,
        reasoning: 10,
        ..Usage::default()
    };
    assert_eq!(
        t.price("r", None, &usage, ServiceTier::Standard).unwrap(),
        Pricing::Unpriced(Unpriced::NoOutputRate)
    );
    assert_eq!(
        total(&t, "r", Usage::new(10, 0), ServiceTier::Standard),
        d("0.00001")
    );
}

#[test]
fn a_service_rate_applies_even_without_a_plain_rate_beside_it() {
    let t = PriceTable::parse(
        r#"{"s": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06, "cache_read_input_token_cost_priority": 5e-08}}"#,
    )
    .unwrap();
    let reads = Usage {
        input: 100,
        cache_read: 100,
        ..Usage::default()
    };
    assert_eq!(total(&t, "s", reads, ServiceTier::Priority), d("0.000005"));
    // Standard calls have no cache-read rate: the input rate.
    assert_eq!(total(&t, "s", reads, ServiceTier::Standard), d("0.0001"));
}

#[test]
fn a_cost_a_decimal_cannot_hold_is_an_error_and_budgets_get_its_rounded_figure() {
    let table = PriceTable::parse(
        r#"{"precise": {"input_cost_per_token": 0.1234567890123456789, "output_cost_per_token": 0},
            "dear": {"input_cost_per_token": 100000000000000000000, "output_cost_per_token": 0}}"#,
    )
    .unwrap();
    // Exact in 19 digits once its trailing zeros go: priced, not refused.
    let usage = Usage::new(100_000_000_000, 0);
    assert_eq!(
        total(&table, "precise", usage, ServiceTier::Standard),
        d("12345678901.23456789")
    );
    // 30 significant digits: no exact figure, so an error (the call is then unpriced), while
    // budgets are charged the nearest Decimal.
    let usage = Usage::new(123_456_789_012, 0);
    let precise = table.lookup("precise", None).unwrap();
    assert_eq!(
        table.price_found(precise, &usage, ServiceTier::Standard),
        Err(UsageError::TooLarge)
    );
    let bound = precise.cost_bound(&usage, ServiceTier::Standard);
    assert_eq!(bound.round_dp(6), d("15241578753.196160"));
    // Past Decimal::MAX (about 7.9 × 10^28): the error, and the largest figure for budgets.
    let dear = table.lookup("dear", None).unwrap();
    for usage in [Usage::new(u64::MAX, 0), Usage::new(u64::MAX, u64::MAX)] {
        assert_eq!(
            table.price_found(dear, &usage, ServiceTier::Standard),
            Err(UsageError::TooLarge)
        );
        assert_eq!(dear.cost_bound(&usage, ServiceTier::Standard), Decimal::MAX);
    }
}
