//! Property tests over whole configs: a generated raw config survives serialise → load
//! unchanged, the JSON schema and the loader agree on it, and no input panics the loader.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::collections::BTreeMap;

use aperture_config::raw::*;
use aperture_config::{Loader, Mode, load_str};
use proptest::prelude::*;
use serde_json::{Value, json};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9._:/@-]{0,12}",
        "\\PC{0,10}",
        Just("${OPENAI_KEY}".to_string()),
        Just("https://api.example.com".to_string()),
    ]
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..3)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,5}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn opt_bool() -> impl Strategy<Value = Option<bool>> {
    prop::option::of(any::<bool>())
}

prop_compose! {
    fn compatibility()(a in opt_bool(), b in opt_bool(), c in opt_bool(), d in opt_bool(),
                       e in opt_bool(), f in opt_bool(), g in opt_bool(), h in opt_bool(),
                       i in opt_bool()) -> RawCompatibility {
        RawCompatibility {
            openai_chat: a, openai_responses: b, anthropic_messages: c,
            gemini_generate_content: d, bedrock_model_invoke: e, bedrock_converse: f,
            google_generate_content: g, google_raw_predict: h,
            experimental_gemini_cli_vertex_compat: i,
        }
    }
}

prop_compose! {
    fn provider()(baseurl in text(), models in texts(), apikey in text(), authorization in text(),
                  auth_mode in text(), name in text(), compatibility in compatibility(),
                  preference in any::<i64>(), disabled in any::<bool>(), add_headers in texts(),
                  cost in prop::collection::vec((text(), text(), 0.01f64..100.0), 0..2))
                  -> RawProvider {
        RawProvider {
            baseurl, models, apikey: SecretText(apikey), authorization, auth_mode, name,
            description: String::new(), compatibility, cost_basis: String::new(), preference,
            disabled, add_headers,
            model_cost_map: cost.into_iter()
                .map(|(pattern, price_as, adjustment)| RawCostMapEntry { pattern, price_as, adjustment })
                .collect(),
        }
    }
}

prop_compose! {
    fn capability()(role in text(), models in text(), buckets in texts(), add_headers in texts(),
                    read_metrics in any::<bool>(), filterable in prop::option::of(texts()),
                    tools in prop::option::of(text())) -> RawCapability {
        RawCapability {
            role, models,
            quotas: buckets.into_iter().map(|bucket| RawQuotaRef { bucket }).collect(),
            add_headers, read_metrics,
            filterable_headers: filterable.map(OneOrMany::Many),
            mcp_tools: tools.map(OneOrMany::One),
            ..RawCapability::default()
        }
    }
}

prop_compose! {
    fn grant()(src in texts(), caps in prop::collection::vec(capability(), 0..3),
               custom in prop::collection::btree_map("[a-z.]{1,8}/cap/[a-z]{1,4}", json_value(), 0..2))
               -> RawGrant {
        RawGrant { src, app: RawGrantApp { aperture: caps, custom }, ..RawGrant::default() }
    }
}

prop_compose! {
    fn gateway()(listen in prop_oneof![text().prop_map(OneOrMany::One), texts().prop_map(OneOrMany::Many)],
                 size in prop_oneof![any::<u64>().prop_map(RawSize::Bytes), text().prop_map(RawSize::Text)],
                 connect in text(), loopback in any::<bool>(), proxies in texts(),
                 queue in any::<u64>()) -> RawGateway {
        let mut g = RawGateway { listen, max_request_body: size, ..RawGateway::default() };
        g.timeouts.connect = connect;
        g.identity.loopback = loopback;
        g.identity.headers.trusted_proxies = proxies;
        g.capture.queue_capacity = queue;
        g
    }
}

prop_compose! {
    fn raw_config()(providers in prop::collection::btree_map(text(), provider(), 0..3),
                    grants in prop::collection::vec(grant(), 0..3),
                    quotas in prop::collection::btree_map(text(), (text(), text()), 0..2),
                    auto_cost_basis in any::<bool>(), mcp in json_value(),
                    retention in text(), gateway in gateway()) -> RawConfig {
        let mut c = RawConfig {
            providers, grants, auto_cost_basis, mcp, gateway,
            quotas: quotas.into_iter()
                .map(|(k, (capacity, rate))| (k, RawQuota { capacity, rate, on_exceed: String::new() }))
                .collect::<BTreeMap<_, _>>(),
            ..RawConfig::default()
        };
        c.database.retention.duration = retention;
        c
    }
}

fn schema_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&aperture_config::schema_json()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

/// Diagnostics that mean "the document does not fit the schema".
fn shape_problems(text: &str) -> Vec<String> {
    load_str(text, Mode::Load)
        .diagnostics
        .iter()
        .filter(|d| {
            d.message.starts_with("unknown config key")
                || d.message.starts_with("json:")
                || d.message.starts_with("invalid config:")
        })
        .map(|d| d.message.clone())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn raw_config_round_trips(cfg in raw_config(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&cfg) } else { serde_json::to_string(&cfg) }.unwrap();
        let loaded = Loader::new().env(&|_| None).load_str(&text);
        prop_assert_eq!(shape_problems(&text), Vec::<String>::new());
        prop_assert_eq!(loaded.raw.as_ref(), Some(&cfg));
    }

    #[test]
    fn schema_and_loader_agree_on_generated_configs(cfg in raw_config()) {
        let value = serde_json::to_value(&cfg).unwrap();
        let validator = schema_validator();
        prop_assert!(validator.is_valid(&value), "schema rejects a config the types produced");
        prop_assert!(shape_problems(&value.to_string()).is_empty());
    }

    #[test]
    fn schema_and_loader_agree_on_broken_configs(cfg in raw_config(), which in 0usize..5) {
        let mut value = serde_json::to_value(&cfg).unwrap();
        // Break the document in one of several ways; both must notice.
        match which {
            0 => { value["basurl"] = json!("x"); }
            1 => { value["auto_cost_basis"] = json!("yes"); }
            2 => { value["providers"]["p"] = json!({"baseurl": "https://x", "modles": []}); }
            3 => { value["gateway"]["capture"] = json!({"queue_capacity": -5}); }
            _ => { value["grants"] = json!([{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"role": 1}]}}]); }
        }
        prop_assert!(!schema_validator().is_valid(&value), "schema accepts a broken config");
        prop_assert!(!shape_problems(&value.to_string()).is_empty(), "loader accepts a broken config");
    }

    #[test]
    fn loader_never_panics(text in "\\PC{0,200}") {
        let _ = load_str(&text, Mode::Strict);
    }

    #[test]
    fn loader_never_panics_on_config_like_text(cfg in raw_config(), cut in 0usize..400, junk in "[{}\\[\\],:\"/*a-z0-9 ]{0,8}") {
        let text = serde_json::to_string(&cfg).unwrap();
        let mut cut = cut.min(text.len());
        while !text.is_char_boundary(cut) { cut -= 1; }
        let broken = format!("{}{junk}{}", &text[..cut], &text[cut..]);
        let loaded = load_str(&broken, Mode::Load);
        // Whatever is wrong is located in the file: every diagnostic of a text load has a
        // line and a column inside the text.
        let lines = broken.lines().count().max(1) as u32;
        for d in loaded.diagnostics.iter() {
            prop_assert!(d.line.is_some_and(|l| l <= lines) && d.column.is_some(), "{:?}", d);
        }
    }
}
