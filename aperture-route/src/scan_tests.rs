use super::*;

fn serde_ok(b: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(b).is_ok()
}

/// The scanner and serde_json agree on `b`, and the scanner's verdict is `valid`.
fn agree(b: &[u8], valid: bool) {
    let ours = scan(b).is_ok();
    assert_eq!(
        ours,
        serde_ok(b),
        "disagree on {:?}",
        String::from_utf8_lossy(b)
    );
    assert_eq!(ours, valid, "{:?}", String::from_utf8_lossy(b));
}

#[test]
fn valid_documents() {
    for doc in [
        r#"{}"#,
        r#" { } "#,
        "\t{\"a\":1}\r\n",
        r#"[]"#,
        r#"[1,2,[3,{"model":"x"}]]"#,
        r#""str""#,
        r#"0"#,
        r#"-0.5e+10"#,
        r#"1E-400"#,
        r#"true"#,
        r#"null"#,
        r#"{"a":{"b":[true,false,null,{"c":{}}]},"d":"\u00e9\ud83d\ude00\n\/"}"#,
        "{\"é\":\"ünïcödé ✓ 😀\"}",
        r#"{"a":123456789012345678901234567890}"#,
    ] {
        agree(doc.as_bytes(), true);
    }
}

#[test]
fn invalid_documents() {
    for doc in [
        "",
        " ",
        "{",
        "}",
        r#"{"a"}"#,
        r#"{"a":}"#,
        r#"{"a":1,}"#,
        r#"[1,]"#,
        r#"{"a":1}x"#,
        r#"{"a":1}{}"#,
        r#"{a:1}"#,
        r#"{'a':1}"#,
        r#"{"a":01}"#,
        r#"{"a":1.}"#,
        r#"{"a":.5}"#,
        r#"{"a":1e}"#,
        r#"{"a":-}"#,
        r#"{"a":+1}"#,
        r#"{"a":1e400}"#,
        r#"{"a":[1}}"#,
        r#"{"a":{"b":1]}"#,
        r#"[1}"#,
        r#"[{]}"#,
        r#"{"a":[{"b":2},]}"#,
        r#"{"a" "b"}"#,
        r#"{"a":1 "b":2}"#,
        r#"{"a":[1 2]}"#,
        r#"{,"a":1}"#,
        r#"{"a"::1}"#,
        r#"{1:1}"#,
        r#"{"a":{1:1}}"#,
        r#"{"a":-1e309}"#,
        r#"{"a":tru}"#,
        r#"{"a":nul}"#,
        r#"{"a":"\x"}"#,
        r#"{"a":"\u12"}"#,
        r#"{"a":"\ud800"}"#,
        r#"{"a":"\udc00"}"#,
        r#"{"a":"\ud800\u0041"}"#,
        r#"{"a":"\ud800\n"}"#,
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"nl\nhere\"}",
        r#"{"a":NaN}"#,
        r#"{"a":Infinity}"#,
        r#"// comment
        {}"#,
        "{\"a\":1}\u{a0}",
    ] {
        agree(doc.as_bytes(), false);
    }
    // Invalid UTF-8, inside and outside strings.
    agree(b"{\"a\":\"\xff\"}", false);
    agree(b"{\"a\":\"\xc3\"}", false);
    agree(b"{\"a\":\"\xed\xa0\x80\"}", false);
    agree(b"{\"a\":1}\xff", false);
}

#[test]
fn long_numbers_follow_serde_json() {
    let big = format!("{{\"a\":{}}}", "9".repeat(400));
    agree(big.as_bytes(), serde_ok(big.as_bytes()));
    let long_fraction = format!("{{\"a\":0.{}}}", "1".repeat(400));
    agree(long_fraction.as_bytes(), true);
    let fine = format!("{{\"a\":{}}}", "9".repeat(299));
    agree(fine.as_bytes(), true);
}

#[test]
fn depth_limit_matches_serde_json() {
    for depth in [1, 2, 126, 127, 128, 129, 300] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        agree(arrays.as_bytes(), depth <= 127);
        // Inside a top-level object, which counts as one level.
        let inner = depth - 1;
        let obj = format!("{{\"a\":{}0{}}}", "[".repeat(inner), "]".repeat(inner));
        agree(obj.as_bytes(), depth <= 127);
        let objects = format!("{}{}", "{\"k\":".repeat(depth - 1), "{}") + &"}".repeat(depth - 1);
        agree(objects.as_bytes(), depth <= 127);
    }
}

#[test]
fn top_model_kinds() {
    let span = |b: &str| match scan(b.as_bytes()) {
        Ok(TopModel::String { span, escaped }) => (b[span].to_string(), escaped),
        other => panic!("{b}: {other:?}"),
    };
    assert_eq!(span(r#"{"model":"m"}"#), (r#""m""#.into(), false));
    assert_eq!(
        span(r#"{"a":{"model":"x"}, "model" :	"m\n"}"#),
        (r#""m\n""#.into(), true)
    );
    assert_eq!(span(r#"{"mod\u0065l":"m"}"#), (r#""m""#.into(), false));
    assert_eq!(scan(br#"{"model":1}"#), Ok(TopModel::NotString));
    assert_eq!(scan(br#"{"model":null}"#), Ok(TopModel::NotString));
    assert_eq!(scan(br#"{"models":"m"}"#), Ok(TopModel::Missing));
    assert_eq!(scan(br#"{"Model":"m"}"#), Ok(TopModel::Missing));
    assert_eq!(scan(br#"["model","m"]"#), Ok(TopModel::Missing));
    assert_eq!(scan(br#"{"x":[{"model":"m"}]}"#), Ok(TopModel::Missing));
    assert_eq!(
        scan(br#"{"model":"a","model":"b"}"#),
        Ok(TopModel::Duplicate)
    );
    assert_eq!(
        scan(br#"{"model":1,"mod\u0065l":"b"}"#),
        Ok(TopModel::Duplicate)
    );
    // Validity wins over everything else.
    assert_eq!(scan(br#"{"model":"a","model":"b",}"#), Err(Invalid));
}
