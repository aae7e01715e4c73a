use super::{Kind, parse};
use proptest::prelude::*;
use serde_json::{Value, json};

fn value(text: &str) -> Value {
    parse(text).expect("parses").to_value()
}

#[test]
fn comments_and_trailing_commas() {
    let text = "// head\n{ /* a */ \"a\": [1, 2, ], // tail\n \"b\": {\"c\": null,}, }\n/* end */";
    assert_eq!(value(text), json!({"a": [1, 2], "b": {"c": null}}));
}

#[test]
fn spans_point_at_keys_and_values() {
    let text = "{\n  \"key\": \"v\"\n}";
    let node = parse(text).unwrap();
    let Kind::Object(members) = node.kind else {
        panic!("object")
    };
    assert_eq!(
        &text[members[0].key_span.start..members[0].key_span.end],
        "\"key\""
    );
    let v = &members[0].value.span;
    assert_eq!(&text[v.start..v.end], "\"v\"");
}

#[test]
fn duplicate_keys_are_kept_in_order() {
    let node = parse(r#"{"a": 1, "a": 2}"#).unwrap();
    let Kind::Object(members) = node.kind else {
        panic!("object")
    };
    assert_eq!(members.len(), 2);
    assert_eq!(node_value(&members[1].value), json!(2));
}

fn node_value(n: &super::Node) -> Value {
    n.to_value()
}

#[test]
fn escapes_decode() {
    assert_eq!(
        value(r#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#),
        json!("a\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1f600}")
    );
    assert_eq!(value(r#""\ud800x""#), json!("\u{fffd}x"));
}

#[test]
fn rejects_json5_and_broken_input_with_offsets() {
    let cases = [
        (
            "{'a': 1}",
            1,
            "invalid character '\\'' looking for beginning of object key string",
        ),
        (
            "{\"a\": 1 \"b\": 2}",
            8,
            "invalid character '\"' after object key:value pair",
        ),
        (
            "[1,,2]",
            3,
            "invalid character ',' looking for beginning of value",
        ),
        ("{\"a\" 1}", 5, "invalid character '1' after object key"),
        ("[0x10]", 2, "invalid character 'x' after array element"),
        (
            "{a: 1}",
            1,
            "invalid character 'a' looking for beginning of object key string",
        ),
        ("[1] 2", 4, "invalid character '2' after top-level value"),
        ("", 0, "unexpected end of JSON input"),
        ("{\"a\": tru}", 6, "invalid character 't' in literal"),
        ("/* open", 0, "unterminated block comment"),
        ("\"abc", 0, "unterminated string literal"),
        ("[01]", 2, "invalid character '1' after array element"),
        (
            "[1.]",
            3,
            "invalid character ']' after decimal point in numeric literal",
        ),
        (
            "[+1]",
            1,
            "invalid character '+' looking for beginning of value",
        ),
    ];
    for (text, offset, message) in cases {
        let err = parse(text).expect_err(text);
        assert_eq!(
            (err.offset, err.message.as_str()),
            (offset, message),
            "input {text:?}"
        );
    }
}

#[test]
fn depth_is_limited() {
    let deep = "[".repeat(200) + &"]".repeat(200);
    let err = parse(&deep).unwrap_err();
    assert!(err.message.contains("max depth"), "{}", err.message);
    let ok = "[".repeat(100) + &"]".repeat(100);
    assert!(parse(&ok).is_ok());
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1.0e9f64..1.0e9).prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn agrees_with_serde_json(v in json_value(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) }.unwrap();
        prop_assert_eq!(value(&text), v);
    }

    #[test]
    fn never_panics(text in "\\PC{0,64}") {
        let _ = parse(&text);
    }

    #[test]
    fn never_panics_on_json_like_bytes(text in "[\\[\\]{}\",:/*\\\\ a-z0-9.eE+\\-\n]{0,64}") {
        match parse(&text) {
            Ok(node) => {
                // Anything we accept that is also plain JSON must mean the same to serde_json.
                if let Ok(plain) = serde_json::from_str::<Value>(&text) {
                    prop_assert_eq!(node.to_value(), plain);
                }
            }
            Err(e) => prop_assert!(e.offset <= text.len()),
        }
    }
}
