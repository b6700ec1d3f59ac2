use super::*;
use crate::contract::vars;
use crate::env::EnvSource;
use crate::gap::{Gap, GapKind};

const REQUIRED: [&str; 5] = [
    vars::APP_NAME,
    vars::ENVIRONMENT,
    vars::OWNER,
    vars::COST_CENTER,
    vars::DATA_CLASSIFICATION,
];

fn complete() -> Vec<(&'static str, String)> {
    vec![
        (vars::APP_NAME, "support-bot".to_owned()),
        (vars::ENVIRONMENT, "test".to_owned()),
        (vars::OWNER, "team-ai".to_owned()),
        (vars::COST_CENTER, "CC-1234".to_owned()),
        (vars::DATA_CLASSIFICATION, "internal".to_owned()),
    ]
}

fn with(overrides: &[(&'static str, &str)]) -> EnvSource {
    let mut pairs = complete();
    for (k, v) in overrides {
        pairs.retain(|(name, _)| name != k);
        pairs.push((k, (*v).to_owned()));
    }
    EnvSource::from_pairs(pairs)
}

fn without(variable: &str) -> EnvSource {
    EnvSource::from_pairs(complete().into_iter().filter(|(k, _)| *k != variable))
}

fn only_gap(env: &EnvSource) -> Gap {
    let gaps = Config::from_env(env).expect_err("expected a gap");
    assert_eq!(gaps.len(), 1, "{gaps}");
    gaps.as_slice()[0].clone()
}

#[test]
fn a_complete_environment_gives_the_contract_resource() {
    let config = Config::from_env(&with(&[(vars::APP_VERSION, "1.2.3")])).unwrap();
    assert_eq!(config.environment, Environment::Test);
    assert_eq!(config.data_classification, DataClassification::Internal);
    assert_eq!(config.telemetry_file, PathBuf::from(DEFAULT_TELEMETRY_FILE));
    assert!(config.otlp.is_none());
    let resource = config.resource_attributes();
    let get = |k: &str| {
        resource
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("service.name"), Some("support-bot"));
    assert_eq!(get("deployment.environment.name"), Some("test"));
    assert_eq!(get("govops.owner"), Some("team-ai"));
    assert_eq!(get("govops.cost_center"), Some("CC-1234"));
    assert_eq!(get("govops.data_classification"), Some("internal"));
    assert_eq!(get("service.version"), Some("1.2.3"));
}

#[test]
fn each_required_variable_missing_is_one_gap_naming_it() {
    for variable in REQUIRED {
        let gap = only_gap(&without(variable));
        assert_eq!(gap.variable, variable);
        assert_eq!(gap.kind, GapKind::Missing);
        assert_eq!(gap.problem, "is not set");
        assert!(!gap.accepted.is_empty());
    }
}

#[test]
fn each_required_variable_empty_or_whitespace_only_is_a_gap() {
    for variable in REQUIRED {
        let gap = only_gap(&with(&[(variable, "")]));
        assert_eq!(
            (gap.variable.as_str(), gap.kind),
            (variable, GapKind::Empty)
        );
        for blank in [" ", "\t", "  \n "] {
            let gap = only_gap(&with(&[(variable, blank)]));
            assert_eq!(
                (gap.variable.as_str(), gap.kind),
                (variable, GapKind::WhitespaceOnly)
            );
        }
    }
}

#[test]
fn each_required_variable_outside_its_accepted_set_is_invalid() {
    let cases: [(&str, &str, &str); 10] = [
        (vars::APP_NAME, "Support Bot", "position 1"),
        (vars::APP_NAME, "-bot", "must start with a letter or digit"),
        (vars::APP_NAME, "bot!", "position 4"),
        (vars::ENVIRONMENT, "production", "dev, test, staging, prod"),
        (vars::ENVIRONMENT, "PROD", "dev, test, staging, prod"),
        (vars::OWNER, "team\u{7}ai", "printable"),
        (vars::COST_CENTER, "CC 1234", "[A-Za-z0-9._-]"),
        (vars::COST_CENTER, "CC/1234", "[A-Za-z0-9._-]"),
        (
            vars::DATA_CLASSIFICATION,
            "secret",
            "public, internal, confidential, restricted",
        ),
        (
            vars::DATA_CLASSIFICATION,
            "Public",
            "public, internal, confidential, restricted",
        ),
    ];
    for (variable, value, said) in cases {
        let gap = only_gap(&with(&[(variable, value)]));
        assert_eq!(
            (gap.variable.as_str(), gap.kind),
            (variable, GapKind::Invalid),
            "{value}"
        );
        assert!(
            gap.problem.contains(said),
            "{variable}={value}: {}",
            gap.problem
        );
    }
}

#[test]
fn every_gap_is_reported_at_once_in_contract_order() {
    let env = EnvSource::from_pairs([
        (vars::ENVIRONMENT, "production"),
        (vars::OWNER, "   "),
        (vars::POLICY, "/nonexistent/policy.yaml"),
        (vars::OTLP_TIMEOUT, "soon"),
    ]);
    let gaps = Config::from_env(&env).unwrap_err();
    let names: Vec<_> = gaps.iter().map(|g| g.variable.as_str()).collect();
    assert_eq!(
        names,
        [
            vars::APP_NAME,
            vars::ENVIRONMENT,
            vars::OWNER,
            vars::COST_CENTER,
            vars::DATA_CLASSIFICATION,
            vars::POLICY,
            vars::OTLP_TIMEOUT
        ]
    );
    let report = gaps.report();
    assert!(report.contains("7 gaps"), "{report}");
    for name in names {
        assert!(report.contains(name), "{report}");
    }
}

#[test]
fn an_empty_environment_names_all_five_required_variables() {
    let gaps = Config::from_env(&EnvSource::empty()).unwrap_err();
    assert_eq!(gaps.len(), 5);
    for variable in REQUIRED {
        assert!(gaps.names(variable));
    }
}

#[test]
fn length_limits_count_characters_and_long_values_are_cut_in_messages() {
    let at_limit = "a".repeat(64);
    assert!(Config::from_env(&with(&[(vars::APP_NAME, &at_limit)])).is_ok());
    let too_long = "a".repeat(65);
    let gap = only_gap(&with(&[(vars::APP_NAME, &too_long)]));
    assert!(gap.problem.contains("65 characters"), "{}", gap.problem);

    // 128 two-byte characters are 256 bytes but within the owner's 128-character limit.
    let owner = "é".repeat(128);
    assert_eq!(
        Config::from_env(&with(&[(vars::OWNER, &owner)]))
            .unwrap()
            .owner,
        owner
    );
    let huge = "x".repeat(100_000);
    let gap = only_gap(&with(&[(vars::OWNER, &huge)]));
    assert!(gap.problem.contains("100000 characters"));
    assert!(
        gap.problem.len() < 200,
        "a huge value must not be repeated whole"
    );

    let gap = only_gap(&with(&[(vars::COST_CENTER, &"9".repeat(1000))]));
    assert!(gap.problem.contains("at most 64"));
}

#[test]
fn non_ascii_values_are_accepted_where_printable_and_refused_where_ascii_is_required() {
    let config = Config::from_env(&with(&[(vars::OWNER, "équipe-données-日本")])).unwrap();
    assert_eq!(config.owner, "équipe-données-日本");
    let gap = only_gap(&with(&[(vars::APP_NAME, "bøt")]));
    assert!(gap.problem.contains("'ø' at position 2"), "{}", gap.problem);
    let gap = only_gap(&with(&[(vars::COST_CENTER, "centre-coût")]));
    assert_eq!(gap.kind, GapKind::Invalid);
    let gap = only_gap(&with(&[(vars::ENVIRONMENT, "prod\u{200b}")]));
    assert_eq!(gap.kind, GapKind::Invalid);
}

#[test]
fn a_value_that_is_not_unicode_is_a_gap_not_an_unset_variable() {
    let mut broken =
        EnvSource::from_os_pairs([(std::ffi::OsString::from(vars::OWNER), os_not_unicode())]);
    for (k, v) in with(&[]).iter().filter(|(k, _)| *k != vars::OWNER) {
        broken.set(k, v);
    }
    let gap = only_gap(&broken);
    assert_eq!(
        (gap.variable.as_str(), gap.kind),
        (vars::OWNER, GapKind::NotUnicode)
    );
}

#[cfg(unix)]
fn os_not_unicode() -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    std::ffi::OsString::from_vec(vec![0x66, 0xff, 0x6f])
}

#[cfg(not(unix))]
fn os_not_unicode() -> std::ffi::OsString {
    use std::os::windows::ffi::OsStringExt;
    std::ffi::OsString::from_wide(&[0x66, 0xD800, 0x6f])
}

#[test]
fn values_set_in_code_win_over_the_environment() {
    let mut settings = Settings::default();
    settings.set(vars::ENVIRONMENT, Environment::Dev);
    settings.set(vars::OWNER, "code-owner");
    let config = Config::load(&with(&[(vars::ENVIRONMENT, "nonsense")]), &settings).unwrap();
    assert_eq!(config.environment, Environment::Dev);
    assert_eq!(config.owner, "code-owner");

    settings.set(vars::COST_CENTER, "bad value");
    let gaps = Config::load(&with(&[]), &settings).unwrap_err();
    assert!(gaps.as_slice()[0].problem.ends_with("(set in code)"));
}

#[test]
fn paths_must_be_readable_or_writable() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "# allow all\n").unwrap();
    let table = dir.path().join("prices.json");
    std::fs::write(&table, r#"{"m": {"input_cost_per_token": 1e-6}}"#).unwrap();
    let negative = dir.path().join("negative.json");
    std::fs::write(
        &negative,
        r#"{"m": {"input_cost_per_token": -1e-6}, "n": {"output_cost_per_token": "2e-6"}}"#,
    )
    .unwrap();
    let bad_table = dir.path().join("bad.json");
    std::fs::write(&bad_table, "[1, 2").unwrap();
    let dir_str = dir.path().to_str().unwrap();

    let config = Config::from_env(&with(&[
        (vars::POLICY, policy.to_str().unwrap()),
        (vars::PRICE_TABLE, table.to_str().unwrap()),
        (
            vars::TELEMETRY_FILE,
            dir.path().join("t.jsonl").to_str().unwrap(),
        ),
    ]))
    .unwrap();
    assert_eq!(config.prices.len(), 1);
    assert!(config.prices.lookup("m", None).is_some());
    let policy_ref = config.policy.unwrap();
    assert_eq!(policy_ref.name, "policy.yaml");
    // sha256 of "# allow all\n"
    assert_eq!(policy_ref.id().len(), "policy.yaml@sha256:".len() + 64);
    assert!(
        !dir.path().join("t.jsonl").exists(),
        "validation must not create files"
    );

    let gap = only_gap(&with(&[(vars::PRICE_TABLE, negative.to_str().unwrap())]));
    assert_eq!(gap.kind, GapKind::Unparseable);
    assert!(
        gap.problem
            .contains(r#"model "m", field "input_cost_per_token": is negative"#),
        "{}",
        gap.problem
    );
    assert!(
        gap.problem
            .contains(r#"model "n", field "output_cost_per_token": is a string"#),
        "{}",
        gap.problem
    );
    assert_eq!(
        Config::from_env(&with(&[])).unwrap().prices.len(),
        218,
        "the embedded table by default"
    );

    let cases: [(&str, String, GapKind, &str); 7] = [
        (
            vars::POLICY,
            format!("{dir_str}/missing.yaml"),
            GapKind::Unreadable,
            "does not exist",
        ),
        (
            vars::POLICY,
            dir_str.to_owned(),
            GapKind::Unreadable,
            "is a directory",
        ),
        (vars::POLICY, String::new(), GapKind::Empty, "empty"),
        (
            vars::PRICE_TABLE,
            bad_table.to_str().unwrap().to_owned(),
            GapKind::Unparseable,
            "JSON",
        ),
        (
            vars::TELEMETRY_FILE,
            format!("{dir_str}/no/such/dir/t.jsonl"),
            GapKind::Unreadable,
            "does not exist",
        ),
        (
            vars::TELEMETRY_FILE,
            dir_str.to_owned(),
            GapKind::Unreadable,
            "is a directory",
        ),
        (
            vars::AUDIT_LOG,
            "  ".to_owned(),
            GapKind::WhitespaceOnly,
            "white space",
        ),
    ];
    for (variable, value, kind, said) in cases {
        let gap = only_gap(&with(&[(variable, &value)]));
        assert_eq!(
            (gap.variable.as_str(), gap.kind),
            (variable, kind),
            "{value}"
        );
        assert!(gap.problem.contains(said), "{}", gap.problem);
    }
}

#[test]
fn otlp_endpoints_follow_the_specification() {
    let config =
        Config::from_env(&with(&[(vars::OTLP_ENDPOINT, "http://collector:4318/")])).unwrap();
    let otlp = config.otlp.unwrap();
    assert_eq!(otlp.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(otlp.traces_endpoint, "http://collector:4318/v1/traces");
    assert_eq!(otlp.metrics_endpoint, "http://collector:4318/v1/metrics");
    assert_eq!(otlp.logs_endpoint, "http://collector:4318/v1/logs");
    assert_eq!(otlp.timeout, DEFAULT_OTLP_TIMEOUT);

    let config = Config::from_env(&with(&[
        (vars::OTLP_ENDPOINT, "http://collector:4317"),
        (vars::OTLP_PROTOCOL, "grpc"),
        (vars::OTLP_LOGS_ENDPOINT, "http://logs.example:4317"),
        (vars::OTLP_TIMEOUT, "2500"),
    ]))
    .unwrap();
    let otlp = config.otlp.unwrap();
    assert_eq!(otlp.traces_endpoint, "http://collector:4317");
    assert_eq!(otlp.logs_endpoint, "http://logs.example:4317");
    assert_eq!(otlp.timeout, Duration::from_millis(2500));

    // An empty endpoint is unset, as the specification says.
    assert!(
        Config::from_env(&with(&[(vars::OTLP_ENDPOINT, "")]))
            .unwrap()
            .otlp
            .is_none()
    );

    for (variable, value, said) in [
        (vars::OTLP_ENDPOINT, "collector:4317", "scheme"),
        (vars::OTLP_ENDPOINT, "not a url", "is not a URL"),
        (vars::OTLP_TRACES_ENDPOINT, "ftp://x", "scheme"),
        (
            vars::OTLP_ENDPOINT,
            "https://api.vendor.example",
            "cannot export over TLS yet",
        ),
        (vars::OTLP_PROTOCOL, "http/json", "not supported"),
        (vars::OTLP_PROTOCOL, "udp", "grpc, http/protobuf"),
        (vars::OTLP_TIMEOUT, "-5", "milliseconds"),
    ] {
        let gap = only_gap(&with(&[(variable, value)]));
        assert_eq!(gap.variable, variable);
        assert!(gap.problem.contains(said), "{value}: {}", gap.problem);
    }
}

#[test]
fn otlp_headers_are_secret_in_every_message_and_debug_output() {
    let secret = "s3cr3t-t0ken";
    let config = Config::from_env(&with(&[
        (vars::OTLP_ENDPOINT, "http://localhost:4318"),
        (
            vars::OTLP_HEADERS,
            &format!("Authorization=Bearer%20{secret},x-team=ai"),
        ),
    ]))
    .unwrap();
    let otlp = config.otlp.clone().unwrap();
    assert_eq!(otlp.headers[0].0, "authorization");
    assert_eq!(otlp.headers[0].1.expose(), format!("Bearer {secret}"));
    assert!(!format!("{config:?}").contains(secret));

    for bad in [
        secret.to_owned(),
        format!("ok=1,{secret}"),
        format!("bad key={secret}"),
        format!("k=%FF{secret}"),
    ] {
        let mut settings = Settings::default();
        settings.set(vars::OTLP_HEADERS, bad.clone());
        assert!(!format!("{settings:?}").contains(secret));
        let gaps = Config::load(&with(&[]), &settings).unwrap_err();
        let gap = &gaps.as_slice()[0];
        assert_eq!(gap.variable, vars::OTLP_HEADERS, "{bad}");
        assert!(!gaps.report().contains(secret), "{}", gaps.report());
        assert!(!format!("{gaps:?}").contains(secret));
    }
}

#[test]
fn resource_attributes_are_decoded_and_the_contract_wins() {
    let config = Config::from_env(&with(&[(
        vars::RESOURCE_ATTRIBUTES,
        "team.region=eu%2Dwest,service.name=spoofed, host.role = worker ",
    )]))
    .unwrap();
    let resource = config.resource_attributes();
    assert!(resource.contains(&("team.region".to_owned(), "eu-west".to_owned())));
    assert!(resource.contains(&("host.role".to_owned(), "worker".to_owned())));
    assert!(resource.contains(&("service.name".to_owned(), "support-bot".to_owned())));
    assert!(!resource.iter().any(|(_, v)| v == "spoofed"));

    let gap = only_gap(&with(&[(vars::RESOURCE_ATTRIBUTES, "a=1,=2")]));
    assert!(gap.problem.contains("entry 2"), "{}", gap.problem);
}

#[test]
fn each_optional_path_row_empty_whitespace_only_or_unusable_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent/file").display().to_string();
    for variable in [
        vars::POLICY,
        vars::PRICE_TABLE,
        vars::TELEMETRY_FILE,
        vars::AUDIT_LOG,
    ] {
        let gap = only_gap(&with(&[(variable, "")]));
        assert_eq!(
            (gap.variable.as_str(), gap.kind),
            (variable, GapKind::Empty)
        );
        let gap = only_gap(&with(&[(variable, " \t")]));
        assert_eq!(
            (gap.variable.as_str(), gap.kind),
            (variable, GapKind::WhitespaceOnly)
        );
        let gap = only_gap(&with(&[(variable, &missing)]));
        assert_eq!(
            (gap.variable.as_str(), gap.kind),
            (variable, GapKind::Unreadable)
        );
        assert!(gap.problem.contains("does not exist"), "{}", gap.problem);
    }
    // Free text: blank means unset, anything else is taken as is.
    assert_eq!(
        Config::from_env(&with(&[(vars::APP_VERSION, " ")]))
            .unwrap()
            .app_version,
        None
    );
    let config = Config::from_env(&with(&[(vars::APP_VERSION, "2.0 (build 7) 日本")])).unwrap();
    assert_eq!(config.app_version.as_deref(), Some("2.0 (build 7) 日本"));
}

#[test]
fn invisible_characters_are_not_printable() {
    for owner in ["\u{200B}", "team\u{202E}ai", "\u{FEFF}team", "a\u{2028}b"] {
        let gap = only_gap(&with(&[(vars::OWNER, owner)]));
        assert_eq!(
            (gap.variable.as_str(), gap.kind),
            (vars::OWNER, GapKind::Invalid),
            "{owner:?}"
        );
    }
}

#[test]
fn otlp_values_the_transports_cannot_use_are_gaps() {
    for (variable, value, said) in [
        (vars::OTLP_TIMEOUT, "0", "is 0"),
        (
            vars::OTLP_HEADERS,
            "authorization=Bearer%0Asecret",
            "printable ASCII",
        ),
        (
            vars::OTLP_HEADERS,
            "authorization=caf%C3%A9",
            "printable ASCII",
        ),
    ] {
        let gap = only_gap(&with(&[
            (variable, value),
            (vars::OTLP_ENDPOINT, "http://localhost:4318"),
        ]));
        assert_eq!(gap.variable, variable);
        assert!(gap.problem.contains(said), "{value}: {}", gap.problem);
        assert!(!gap.problem.contains("secret") || !gap.problem.contains("Bearer"));
    }
}

#[test]
fn endpoints_are_normalised_and_redacted_for_messages() {
    let config =
        Config::from_env(&with(&[(vars::OTLP_ENDPOINT, " http://exämple.com:4318 ")])).unwrap();
    let otlp = config.otlp.unwrap();
    assert_eq!(
        otlp.traces_endpoint,
        "http://xn--exmple-cua.com:4318/v1/traces"
    );
    assert_eq!(
        redact_endpoint("http://user:pw@collector:4318/v1/traces?token=abc#x"),
        "http://collector:4318/v1/traces"
    );
    assert_eq!(
        redact_endpoint("http://u:p@collector:4317"),
        "http://collector:4317"
    );
}

#[test]
fn a_value_that_is_not_unicode_keeps_its_place_in_the_contract_order() {
    let broken =
        EnvSource::from_os_pairs([(std::ffi::OsString::from(vars::OWNER), os_not_unicode())]);
    let gaps = Config::from_env(&broken).unwrap_err();
    let names: Vec<_> = gaps.iter().map(|g| g.variable.as_str()).collect();
    assert_eq!(names, REQUIRED);
    assert_eq!(gaps.as_slice()[2].kind, GapKind::NotUnicode);
}

#[test]
fn the_span_queue_size_defaults_to_the_specification_and_rejects_nonsense() {
    let config = Config::from_env(&with(&[])).unwrap();
    assert_eq!(config.span_queue_size, DEFAULT_SPAN_QUEUE_SIZE);
    let config = Config::from_env(&with(&[("OTEL_BSP_MAX_QUEUE_SIZE", " 64 ")])).unwrap();
    assert_eq!(config.span_queue_size, 64);
    for bad in ["0", "lots", "-1", "2000000"] {
        let gap = only_gap(&with(&[("OTEL_BSP_MAX_QUEUE_SIZE", bad)]));
        assert_eq!(gap.variable, "OTEL_BSP_MAX_QUEUE_SIZE", "{bad}");
        assert!(gap.accepted.contains("1 to 1048576"), "{}", gap.accepted);
    }
}

#[test]
fn staging_and_prod_require_a_policy_that_parses() {
    for environment in ["staging", "prod"] {
        let gap = only_gap(&with(&[(vars::ENVIRONMENT, environment)]));
        assert_eq!(gap.variable, vars::POLICY);
        assert_eq!(gap.kind, GapKind::Missing);
        assert!(
            gap.problem.contains("staging and prod require"),
            "{}",
            gap.problem
        );
    }
    assert!(Config::from_env(&with(&[(vars::ENVIRONMENT, "dev")])).is_ok());

    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("policy.toml");
    std::fs::write(
        &good,
        "[guards.token_waste]\nratio = 3\n\n[environments.prod]\nmodels = [\"gpt-4o\"]\n",
    )
    .unwrap();
    let config = Config::from_env(&with(&[
        (vars::ENVIRONMENT, "prod"),
        (vars::POLICY, good.to_str().unwrap()),
    ]))
    .unwrap();
    assert_eq!(config.policy_rules.guards.waste_ratio, 3.0);
    assert_eq!(
        config
            .policy_rules
            .rules(Environment::Prod)
            .models
            .as_deref(),
        Some(&["gpt-4o".to_owned()][..])
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[guards.context_overflow]\naction = \"block\"\n").unwrap();
    let gap = only_gap(&with(&[
        (vars::ENVIRONMENT, "prod"),
        (vars::POLICY, bad.to_str().unwrap()),
    ]));
    assert_eq!(gap.kind, GapKind::Unparseable);
    assert!(gap.problem.contains("bad.toml:2:"), "{}", gap.problem);

    // A model the price table in force does not know is a gap.
    let table = dir.path().join("prices.json");
    std::fs::write(&table, r#"{"m": {"input_cost_per_token": 1e-6}}"#).unwrap();
    let gap = only_gap(&with(&[
        (vars::ENVIRONMENT, "prod"),
        (vars::POLICY, good.to_str().unwrap()),
        (vars::PRICE_TABLE, table.to_str().unwrap()),
    ]));
    assert!(
        gap.problem.contains("policy.toml:5:") && gap.problem.contains("gpt-4o"),
        "{}",
        gap.problem
    );
}

#[test]
fn capture_follows_the_policy_else_the_standard_variable_else_stays_off() {
    const CAPTURE: &str = vars::CAPTURE_MESSAGE_CONTENT;
    let dir = tempfile::tempdir().unwrap();
    let policy = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let silent = policy("silent.toml", "[guards.pii]\naction = \"flag\"\n");
    let on = policy("on.toml", "[capture]\ncontent = true\n");
    let off = policy("off.toml", "[capture]\ncontent = false\n");
    let capture = |pairs: &[(&'static str, &str)]| Config::from_env(&with(pairs)).unwrap();

    assert!(!capture(&[]).capture_content, "off by default");
    assert!(!capture(&[(vars::POLICY, &silent)]).capture_content);
    for (value, expected) in [
        ("true", true),
        ("TRUE", true),
        ("false", false),
        ("", false),
    ] {
        let config = capture(&[(vars::POLICY, &silent), (CAPTURE, value)]);
        assert_eq!(config.capture_content, expected, "{value:?}");
        assert_eq!(capture(&[(CAPTURE, value)]).capture_content, expected);
    }
    // The policy wins over the variable, both ways.
    assert!(!capture(&[(vars::POLICY, &off), (CAPTURE, "true")]).capture_content);
    assert!(capture(&[(vars::POLICY, &on), (CAPTURE, "false")]).capture_content);
    assert!(capture(&[(vars::POLICY, &on)]).capture_content);

    for bad in ["yes", "1", "on", "ture"] {
        let gap = only_gap(&with(&[(CAPTURE, bad)]));
        assert_eq!(gap.variable, CAPTURE, "{bad}");
        assert_eq!(gap.kind, GapKind::Invalid);
        assert!(gap.problem.contains(bad), "{}", gap.problem);
        assert!(
            gap.accepted.starts_with("true or false"),
            "{}",
            gap.accepted
        );
    }
}

#[test]
fn a_misplaced_guard_key_is_a_policy_gap_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[guards.agent_loop]\naction = \"deny\"\nratio = 5\n",
    )
    .unwrap();
    let gap = only_gap(&with(&[(vars::POLICY, policy.to_str().unwrap())]));
    assert_eq!(
        (gap.variable.as_str(), gap.kind),
        (vars::POLICY, GapKind::Unparseable)
    );
    assert!(
        gap.problem
            .contains("policy.toml:3: guards.agent_loop takes only"),
        "{}",
        gap.problem
    );
    assert!(gap.problem.contains("`ratio`"), "{}", gap.problem);
}
