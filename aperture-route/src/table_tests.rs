use aperture_config::{Mode, load_str};

use super::*;

fn table(providers: &str) -> RouteTable {
    let text = format!(r#"{{ "providers": {{ {providers} }} }}"#);
    let loaded = load_str(&text, Mode::Load);
    let config = loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    RouteTable::new(&config)
}

fn all(_: &str, _: &str) -> bool {
    true
}

const CHAT: CompatFlag = CompatFlag::OpenaiChat;

fn pick(t: &RouteTable, model: &str) -> String {
    t.find(model, false, CHAT, all).unwrap().provider
}

#[test]
fn highest_preference_wins() {
    let t = table(
        r#""a": { "baseurl": "https://a", "models": ["m"], "preference": 1 },
           "b": { "baseurl": "https://b", "models": ["m"], "preference": 5 },
           "c": { "baseurl": "https://c", "models": ["m"], "preference": -3 }"#,
    );
    assert_eq!(pick(&t, "m"), "b");
}

#[test]
fn ties_go_to_the_first_id_in_byte_order() {
    let t = table(
        r#""beta": { "baseurl": "https://b", "models": ["m"] },
           "Zed": { "baseurl": "https://z", "models": ["m"] },
           "alpha": { "baseurl": "https://a", "models": ["m"] }"#,
    );
    // Byte order puts upper case first.
    assert_eq!(pick(&t, "m"), "Zed");
    let t = table(
        r#""beta": { "baseurl": "https://b", "models": ["m"], "preference": 2 },
           "alpha": { "baseurl": "https://a", "models": ["m"], "preference": 2 },
           "aaa": { "baseurl": "https://a", "models": ["m"], "preference": 1 }"#,
    );
    assert_eq!(pick(&t, "m"), "alpha");
}

#[test]
fn disabled_and_unroutable_are_never_chosen() {
    let t = table(
        r#""a": { "baseurl": "https://a", "models": ["m", "only-a"], "disabled": true,
                  "preference": 100 },
           "b": { "models": ["m", "only-b"], "preference": 50 },
           "c": { "baseurl": "https://c", "models": ["m"], "auth_mode": "magic",
                  "preference": 20 },
           "d": { "baseurl": "https://d", "models": ["m"] }"#,
    );
    assert_eq!(pick(&t, "m"), "d");
    for model in ["only-a", "only-b", "a/only-a", "b/only-b"] {
        let err = t.find(model, false, CHAT, all).unwrap_err();
        assert_eq!(
            err,
            RouteError::NoRoute {
                model: model.into()
            }
        );
    }
    assert_eq!(t.providers_for_flag(CHAT), vec!["d"]);
    assert_eq!(t.provider_models("a"), None);
    assert_eq!(t.provider_models("d"), Some(&["m".to_string()][..]));
}

#[test]
fn qualified_vs_bare() {
    let t = table(
        r#""vercel": { "baseurl": "https://v", "models": ["anthropic/claude-sonnet-4-6"] },
           "openrouter": { "baseurl": "https://o", "models": ["qwen/qwen3-235b-a22b-2507"] },
           "anthropic": { "baseurl": "https://a", "models": ["claude-sonnet-4-6"],
                          "preference": 99 }"#,
    );
    let r = t
        .find("vercel/anthropic/claude-sonnet-4-6", false, CHAT, all)
        .unwrap();
    assert_eq!(
        r,
        Route {
            provider: "vercel".into(),
            upstream_model: "anthropic/claude-sonnet-4-6".into(),
            requested_model: "vercel/anthropic/claude-sonnet-4-6".into(),
            qualified: true,
        }
    );
    // `anthropic/claude-sonnet-4-6` is qualified (provider `anthropic` lists the rest),
    // even though vercel lists the whole string.
    let r = t
        .find("anthropic/claude-sonnet-4-6", false, CHAT, all)
        .unwrap();
    assert_eq!((r.provider.as_str(), r.qualified), ("anthropic", true));
    assert_eq!(r.upstream_model, "claude-sonnet-4-6");

    let r = t
        .find("qwen/qwen3-235b-a22b-2507", false, CHAT, all)
        .unwrap();
    assert_eq!(r.provider, "openrouter");
    assert_eq!(r.upstream_model, "qwen/qwen3-235b-a22b-2507");
    assert!(!r.qualified);

    // A provider id whose models do not hold the rest: the whole string must be a model.
    let err = t
        .find("vercel/claude-sonnet-4-6", false, CHAT, all)
        .unwrap_err();
    assert!(matches!(err, RouteError::NoRoute { .. }));
}

#[test]
fn path_models_are_bare_only() {
    let t = table(
        r#""g": { "baseurl": "https://g", "models": ["gemini-2.5-pro"],
                  "compatibility": { "gemini_generate_content": true } }"#,
    );
    let flag = CompatFlag::GeminiGenerateContent;
    assert!(t.find("gemini-2.5-pro", true, flag, all).is_ok());
    assert!(t.find("g/gemini-2.5-pro", false, flag, all).is_ok());
    let err = t.find("g/gemini-2.5-pro", true, flag, all).unwrap_err();
    assert_eq!(
        err,
        RouteError::NoRoute {
            model: "g/gemini-2.5-pro".into()
        }
    );
}

#[test]
fn grants_filter_before_flags() {
    let t = table(
        r#""chat": { "baseurl": "https://c", "models": ["m"], "preference": 10 },
           "ant": { "baseurl": "https://a", "models": ["m"],
                    "compatibility": { "anthropic_messages": true } }"#,
    );
    let msgs = CompatFlag::AnthropicMessages;
    // Both granted: the flag picks `ant` despite its lower preference.
    assert_eq!(t.find("m", false, msgs, all).unwrap().provider, "ant");
    // Only `chat` granted: the granted set has no provider with the flag.
    let only_chat = |p: &str, _: &str| p == "chat";
    let err = t.find("m", false, msgs, only_chat).unwrap_err();
    assert_eq!(
        err,
        RouteError::FlagOff {
            model: "m".into(),
            flag: msgs
        }
    );
    // Nothing granted: 403 whatever the flags.
    let none = |_: &str, _: &str| false;
    let err = t.find("m", false, msgs, none).unwrap_err();
    assert_eq!(err, RouteError::NotGranted { model: "m".into() });
    // Grants see the provider id and the upstream model.
    let seen = std::cell::RefCell::new(Vec::new());
    let t2 = table(r#""vercel": { "baseurl": "https://v", "models": ["a/b"] }"#);
    let record = |p: &str, m: &str| {
        seen.borrow_mut().push(format!("{p}/{m}"));
        true
    };
    t2.find("vercel/a/b", false, CHAT, record).unwrap();
    assert_eq!(seen.into_inner(), vec!["vercel/a/b"]);
}

#[test]
fn error_statuses_and_messages() {
    let path = "/v1/chat/completions";
    let (s, m) = RouteError::NoRoute { model: "x".into() }.status_and_message(path);
    assert_eq!(
        (s, m.as_str()),
        (StatusCode::NOT_FOUND, r#"no route found for model "x""#)
    );
    let (s, m) = RouteError::NotGranted { model: "x".into() }.status_and_message(path);
    assert_eq!(
        (s, m.as_str()),
        (
            StatusCode::FORBIDDEN,
            r#"access denied: model "x" is not granted"#
        )
    );
    let e = RouteError::FlagOff {
        model: "x".into(),
        flag: CHAT,
    };
    let (s, m) = e.status_and_message(path);
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        m,
        r#"model "x" is not available on /v1/chat/completions: enable the openai_chat compatibility flag"#
    );
    let r = RouteError::NoRoute { model: "x".into() }.render(ApiFormat::OpenAi, path);
    assert_eq!(
        r.body,
        r#"{"error":{"message":"no route found for model \"x\"","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#
    );
}

#[test]
fn providers_for_flag_sorted_by_id() {
    let t = table(
        r#""z": { "baseurl": "https://z", "models": ["m"],
                  "compatibility": { "openai_responses": true } },
           "a": { "baseurl": "https://a", "models": ["m"],
                  "compatibility": { "openai_responses": true, "openai_chat": true } },
           "n": { "baseurl": "https://n", "models": ["m"] }"#,
    );
    assert_eq!(
        t.providers_for_flag(CompatFlag::OpenaiResponses),
        vec!["a", "z"]
    );
    assert_eq!(t.providers_for_flag(CHAT), vec!["a", "n"]);
    assert!(t.providers_for_flag(CompatFlag::BedrockConverse).is_empty());
}

#[test]
fn duplicate_models_in_one_provider_count_once() {
    let t = table(r#""a": { "baseurl": "https://a", "models": ["m", "m"] }"#);
    assert_eq!(t.provider_models("a"), Some(&["m".to_string()][..]));
    assert_eq!(pick(&t, "m"), "a");
}
