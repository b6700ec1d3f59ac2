use super::*;

fn problems(text: &str) -> Vec<TableProblem> {
    PriceTable::parse(text).expect_err("expected problems")
}

#[test]
fn the_embedded_table_parses_with_every_model_and_its_hash() {
    let table = PriceTable::embedded();
    assert_eq!(table.len(), 218);
    assert_eq!(table.sha256(), sha256(EMBEDDED_JSON.as_bytes()));
    let sonnet = table.lookup("claude-3-7-sonnet-20250219", None).unwrap();
    assert_eq!(sonnet.base_rate(Rate::Input), Some(Decimal::new(3, 6)));
    assert_eq!(
        sonnet.base_rate(Rate::CacheCreation1h),
        Some(Decimal::new(6, 6))
    );
    assert_eq!(sonnet.max_input_tokens(), Some(200_000));
    assert_eq!(sonnet.provider(), Some("anthropic"));
}

#[test]
fn prices_are_read_exactly_from_their_text() {
    let table = PriceTable::parse(
        r#"{"m": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5E-05,
        "cache_read_input_token_cost": 0.00000030000000000000001, "output_cost_per_reasoning_token": 0}}"#,
    )
    .unwrap();
    let m = table.lookup("m", None).unwrap();
    assert_eq!(m.base_rate(Rate::Input).unwrap().to_string(), "0.000003");
    assert_eq!(m.base_rate(Rate::Output).unwrap().to_string(), "0.000015");
    // f64 would round this to 3e-07.
    assert_eq!(
        m.base_rate(Rate::CacheRead).unwrap().to_string(),
        "0.00000030000000000000001"
    );
    assert_eq!(m.base_rate(Rate::Reasoning), Some(Decimal::ZERO));
}

#[test]
fn keys_split_into_rate_tier_and_service() {
    assert_eq!(
        classify("input_cost_per_token"),
        Some((Rate::Input, None, None))
    );
    assert_eq!(
        classify("input_cost_per_token_cache_hit"),
        Some((Rate::CacheHit, None, None))
    );
    assert_eq!(
        classify("cache_creation_input_token_cost_above_1hr_above_200k_tokens"),
        Some((Rate::CacheCreation1h, Some(200), None))
    );
    assert_eq!(
        classify("cache_creation_input_token_cost_above_1hr"),
        Some((Rate::CacheCreation1h, None, None))
    );
    assert_eq!(
        classify("input_cost_per_token_above_200k_tokens_priority"),
        Some((Rate::Input, Some(200), Some(2)))
    );
    assert_eq!(
        classify("output_cost_per_token_batches"),
        Some((Rate::Output, None, Some(0)))
    );
    assert_eq!(
        classify("cache_read_input_token_cost_flex"),
        Some((Rate::CacheRead, None, Some(1)))
    );
    for ignored in [
        "input_cost_per_audio_token",
        "input_cost_per_token_above_k_tokens",
        "input_cost_per_token_above_200k_tokens_foo",
        "output_cost_per_image",
        "search_context_cost_per_query",
    ] {
        assert_eq!(classify(ignored), None, "{ignored}");
    }
}

#[test]
fn malformed_tables_name_the_model_and_field_and_report_every_problem() {
    assert!(problems("{not json")[0].problem.contains("not valid JSON"));
    assert!(problems("[1, 2]")[0].problem.contains("not a JSON object"));
    let found = problems(
        r#"{
        "ok": {"input_cost_per_token": 1e-06, "future_field": {"x": 1}, "input_cost_per_audio_token": "free"},
        "as-string": {"input_cost_per_token": "3e-06"},
        "negative": {"output_cost_per_token": -1e-06},
        "tiny": {"input_cost_per_token": 1e-40},
        "limits": {"max_input_tokens": "lots", "max_output_tokens": 1.5},
        "scientific-limits": {"max_input_tokens": 1e6, "max_output_tokens": 8192.0},
        "not-an-object": "gpt"
    }"#,
    );
    let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 6, "{shown:#?}");
    let has = |model: &str, field: Option<&str>, said: &str| {
        assert!(
            found.iter().any(|p| p.model.as_deref() == Some(model)
                && p.field.as_deref() == field
                && p.problem.contains(said)),
            "{model} {field:?} {said}: {shown:#?}"
        );
    };
    has("as-string", Some("input_cost_per_token"), "is a string");
    has("negative", Some("output_cost_per_token"), "negative");
    has("tiny", Some("input_cost_per_token"), "exactly");
    has("limits", Some("max_input_tokens"), "whole number");
    has("limits", Some("max_output_tokens"), "whole number");
    has("not-an-object", None, "not an object");
    assert!(
        !found
            .iter()
            .any(|p| p.model.as_deref() == Some("scientific-limits")),
        "1e6 is a whole number"
    );
}

#[test]
fn lookup_is_exact_then_provider_prefixed_then_unprefixed_and_nothing_fuzzier() {
    let table = PriceTable::parse(
        r#"{"gpt-x": {"input_cost_per_token": 1e-06}, "bedrock/claude-y": {"input_cost_per_token": 2e-06}}"#,
    )
    .unwrap();
    assert_eq!(table.lookup("gpt-x", None).unwrap().key(), "gpt-x");
    assert_eq!(
        table.lookup("claude-y", Some("bedrock")).unwrap().key(),
        "bedrock/claude-y"
    );
    assert_eq!(table.lookup("openai/gpt-x", None).unwrap().key(), "gpt-x");
    assert_eq!(
        table
            .lookup("bedrock/claude-y", Some("bedrock"))
            .unwrap()
            .key(),
        "bedrock/claude-y"
    );
    assert!(table.lookup("claude-y", None).is_none());
    assert!(table.lookup("GPT-X", None).is_none());
    assert!(table.lookup("gpt-x-2024", None).is_none());
    assert!(
        table
            .lookup(&"m".repeat(300), Some(&"p".repeat(300)))
            .is_none()
    );
}

#[test]
fn nearest_keys_come_closest_first() {
    let table = PriceTable::embedded();
    let near = table.nearest("gpt-4o-mnii", 3);
    assert_eq!(near[0], "gpt-4o-mini");
    assert_eq!(near.len(), 3);
}

#[test]
fn a_key_twice_in_any_object_of_the_table_is_a_problem_naming_model_and_key() {
    // In an entry: serde_json alone would keep the last value (0) silently.
    let found = problems(r#"{"m": {"input_cost_per_token": 1e-6, "input_cost_per_token": 0}}"#);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].model.as_deref(), Some("m"));
    assert_eq!(found[0].field.as_deref(), Some("input_cost_per_token"));
    assert!(
        found[0].to_string().contains("more than once"),
        "{}",
        found[0]
    );
    // A key spelt with an escape is the same key.
    let found =
        problems(r#"{"m": {"input_cost_per_token": 1e-6, "input\u005fcost_per_token": 2e-6}}"#);
    assert_eq!(found[0].field.as_deref(), Some("input_cost_per_token"));
    // Two entries of one model.
    let found = problems(
        r#"{"m": {"input_cost_per_token": 1e-6}, "n": {}, "m": {"input_cost_per_token": 0}}"#,
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].model.as_deref(), Some("m"));
    assert_eq!(found[0].field, None);
    // Deeper, in fields govops does not price with: still an error, with the key's path.
    let found = problems(
        r#"{"m": {"input_cost_per_token": 1e-6, "search_context_cost_per_query": {"low": 1, "high": 2, "low": 3}}}"#,
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].field.as_deref(),
        Some("search_context_cost_per_query.low")
    );
    let found = problems(
        r#"{"m": {"input_cost_per_token": 1e-6, "regions": [{"a": 1}, {"b": [{"a": 1, "a": 1}]}]}}"#,
    );
    assert_eq!(found[0].field.as_deref(), Some("regions[1].b[0].a"));
    // Every entry's problems are reported, not only the first.
    let found = problems(r#"{"m": {"mode": "chat", "mode": "chat"}, "n": {"x": 1, "x": 1}}"#);
    assert_eq!(found.len(), 2, "{found:?}");
}
