//! Property tests: the body-model scanner agrees with serde_json, and the splice touches only
//! the model token.

use aperture_route::{BodyModel, ModelError, extract_body_model, splice_model};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// A stream of choices that decides whitespace and escape spellings.
struct Style {
    choices: Vec<u8>,
    at: usize,
}

impl Style {
    fn pick(&mut self, n: usize) -> usize {
        let c = self
            .choices
            .get(self.at % self.choices.len().max(1))
            .copied();
        self.at += 1;
        usize::from(c.unwrap_or(0)) % n
    }

    fn ws(&mut self, out: &mut String) {
        out.push_str(["", "", " ", "\n", "\t", "\r\n  "][self.pick(6)]);
    }

    fn string(&mut self, s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            let unicode = |out: &mut String, c: char| {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            };
            match c {
                '"' => out.push_str(["\\\"", "\\u0022"][self.pick(2)]),
                '\\' => out.push_str(["\\\\", "\\u005C"][self.pick(2)]),
                '\n' if self.pick(2) == 0 => out.push_str("\\n"),
                '\t' if self.pick(2) == 0 => out.push_str("\\t"),
                '\u{0}'..='\u{1f}' => unicode(out, c),
                '/' if self.pick(3) == 0 => out.push_str("\\/"),
                _ if self.pick(5) == 0 => unicode(out, c),
                _ => out.push(c),
            }
        }
        out.push('"');
    }

    fn value(&mut self, v: &Value, out: &mut String) {
        match v {
            Value::Null | Value::Bool(_) | Value::Number(_) => out.push_str(&v.to_string()),
            Value::String(s) => self.string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.ws(out);
                    self.value(item, out);
                    self.ws(out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                let members: Vec<_> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
                self.object(&members, out);
            }
        }
    }

    fn object(&mut self, members: &[(&str, &Value)], out: &mut String) {
        out.push('{');
        self.ws(out);
        for (i, (k, v)) in members.iter().enumerate() {
            if i > 0 {
                out.push(',');
                self.ws(out);
            }
            self.string(k, out);
            self.ws(out);
            out.push(':');
            self.ws(out);
            self.value(v, out);
            self.ws(out);
        }
        out.push('}');
    }
}

fn text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => prop::char::range('a', 'z'),
        1 => Just('"'),
        1 => Just('\\'),
        1 => Just('/'),
        1 => prop::char::range('\u{0}', '\u{1f}'),
        1 => Just('é'),
        1 => Just('😀'),
        1 => Just('\u{2028}'),
        1 => any::<char>(),
    ];
    prop::collection::vec(c, 0..10).prop_map(String::from_iter)
}

/// Keys that are never `model` at the top level.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("model".to_string()),
        Just("messages".to_string()),
        text()
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A top-level object: other members plus zero to two `model` members at given positions.
#[derive(Debug, Clone)]
struct Doc {
    others: Vec<(String, Value)>,
    models: Vec<(usize, Value)>,
    style: Vec<u8>,
}

fn model_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => "[a-z0-9./:@-]{1,24}".prop_map(Value::String),
        2 => text().prop_map(Value::String),
        1 => Just(Value::String(String::new())),
        1 => json(),
    ]
}

fn doc() -> impl Strategy<Value = Doc> {
    let others = prop::collection::vec((key(), json()), 0..6).prop_map(|m| {
        m.into_iter()
            .map(|(k, v)| (if k == "model" { "model_".into() } else { k }, v))
            .collect()
    });
    let models = prop::collection::vec((0usize..8, model_value()), 0..=2);
    let style = prop::collection::vec(any::<u8>(), 0..64);
    (others, models, style).prop_map(|(others, models, style)| Doc {
        others,
        models,
        style,
    })
}

impl Doc {
    fn members(&self) -> Vec<(&str, &Value)> {
        let mut members: Vec<(&str, &Value)> =
            self.others.iter().map(|(k, v)| (k.as_str(), v)).collect();
        for (at, v) in &self.models {
            members.insert((*at).min(members.len()), ("model", v));
        }
        members
    }

    fn render(&self) -> Vec<u8> {
        let mut style = Style {
            choices: self.style.clone(),
            at: 0,
        };
        let mut out = String::new();
        style.ws(&mut out);
        style.object(&self.members(), &mut out);
        style.ws(&mut out);
        out.into_bytes()
    }

    fn expected(&self) -> Result<String, ModelError> {
        match self.models.as_slice() {
            [] => Err(ModelError::NoModel),
            [(_, Value::String(s))] if !s.is_empty() => Ok(s.clone()),
            [_] => Err(ModelError::NoModel),
            _ => Err(ModelError::DuplicateModel),
        }
    }
}

fn serde_accepts(b: &[u8]) -> bool {
    serde_json::from_slice::<Value>(b).is_ok()
}

/// Applies edits `(position, op, what)`: delete, replace or insert a byte, swap in a structural
/// byte, or insert a snippet that is tricky for a JSON parser. Positions land on structural bytes half of the time.
fn mutate(body: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    const BYTES: &[u8] = b"{}[]\",:\\ -+.eE019tfnu\x00\x1f\x7f\xc3\xa9\xff";
    const SNIPPETS: &[&[u8]] = &[
        br"\ud800",
        br"\udc00",
        br"\ud800\udc00",
        br"\ud800\u0041",
        br"\u00",
        br"\x",
        b"\xed\xa0\x80",
        b"1e400",
        b"-1e309",
        b"01",
        b"1.",
        b".5",
        b"-",
        b"1e",
        b"2.5E-3",
        b"tru",
        b"nul",
        b",",
        b"}",
        b"]",
        b"{",
        b"[",
        b":",
        b"\"",
        br#""model":"m","#,
        br#","model":"m""#,
        br#""model":1,"#,
        b"\t",
        b"\x0c",
        b"\xc2\xa0",
        b"/**/",
    ];
    let mut b = body.to_vec();
    for &(at, op, what) in edits {
        let structural: Vec<usize> = b
            .iter()
            .enumerate()
            .filter(|(_, c)| b"{}[],:\"\\".contains(c))
            .map(|(i, _)| i)
            .collect();
        let at = if op & 0x80 != 0 && !structural.is_empty() {
            structural[at % structural.len()]
        } else {
            at % (b.len() + 1)
        };
        let byte = BYTES[usize::from(what) % BYTES.len()];
        match op % 5 {
            0 if at < b.len() => {
                b.remove(at);
            }
            1 if at < b.len() => b[at] = byte,
            4 if at < b.len() => b[at] = b"{}[],:\""[usize::from(what) % 7],
            2 => b.insert(at, byte),
            _ => {
                let snippet = SNIPPETS[usize::from(what) % SNIPPETS.len()];
                b.splice(at..at, snippet.iter().copied());
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn scanner_agrees_with_serde_json(doc in doc()) {
        let body = doc.render();
        let parsed: Value = serde_json::from_slice(&body).expect("the generator writes JSON");
        let got = extract_body_model(&body);
        match (doc.expected(), got) {
            (Ok(want), Ok(BodyModel { model, span })) => {
                prop_assert_eq!(&model, &want);
                prop_assert_eq!(parsed.get("model").and_then(Value::as_str), Some(want.as_str()));
                let token: String = serde_json::from_slice(&body[span.clone()]).unwrap();
                prop_assert_eq!(token, want);
                prop_assert_eq!(body[span.start], b'"');
                prop_assert_eq!(body[span.end - 1], b'"');
            }
            (want, got) => prop_assert_eq!(got.map(|m| m.model), want),
        }
    }

    #[test]
    fn splice_changes_only_the_model(doc in doc(), new_model in text()) {
        let body = doc.render();
        let Ok(found) = extract_body_model(&body) else { return Ok(()) };
        let out = splice_model(&body, found.span.clone(), &new_model);
        prop_assert_eq!(&out[..found.span.start], &body[..found.span.start]);
        let tail = body.len() - found.span.end;
        prop_assert_eq!(&out[out.len() - tail..], &body[found.span.end..]);

        let mut want: Value = serde_json::from_slice(&body).unwrap();
        want["model"] = Value::String(new_model.clone());
        let got: Value = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(got, want);
        if !new_model.is_empty() {
            prop_assert_eq!(extract_body_model(&out).unwrap().model, new_model);
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn mutated_bodies_are_rejected_exactly_when_serde_json_rejects_them(
        doc in doc(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        let body = mutate(&doc.render(), &edits);
        let ours = extract_body_model(&body);
        prop_assert_eq!(
            ours == Err(ModelError::NotJson),
            !serde_accepts(&body),
            "{:?} -> {:?}", String::from_utf8_lossy(&body), ours
        );
        if let Ok(found) = ours {
            let v: Value = serde_json::from_slice(&body).unwrap();
            prop_assert_eq!(v.get("model").and_then(Value::as_str), Some(found.model.as_str()));
        }
    }

    #[test]
    fn arbitrary_bytes_agree_with_serde_json(body in prop::collection::vec(any::<u8>(), 0..48)) {
        let ours = extract_body_model(&body);
        prop_assert_eq!(ours == Err(ModelError::NotJson), !serde_accepts(&body));
    }

    #[test]
    fn arbitrary_values_agree_with_serde_json(v in json(), style in prop::collection::vec(any::<u8>(), 0..32)) {
        let mut out = String::new();
        Style { choices: style, at: 0 }.value(&v, &mut out);
        let ours = extract_body_model(out.as_bytes());
        prop_assert!(ours != Err(ModelError::NotJson), "{out}");
        let want = v.get("model").and_then(Value::as_str).filter(|m| !m.is_empty());
        prop_assert_eq!(ours.ok().map(|m| m.model), want.map(str::to_owned));
    }
}
