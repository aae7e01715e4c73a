//! The last user message of a request body, per API format: what a hook's `user_message` field
//! carries (SPEC.md §10.2).

use serde_json::Value;

use super::format::ResponseFormat;

/// The text of the last user turn in `body` (a request in `format`), its text parts joined with
/// newlines; `None` when the body is not JSON or has no user text.
pub fn last_user_message(format: ResponseFormat, body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    match format {
        ResponseFormat::AnthropicMessages
        | ResponseFormat::BedrockInvoke
        | ResponseFormat::OpenAiChat
        | ResponseFormat::BedrockConverse
        | ResponseFormat::CountTokens => last_with_role(v.get("messages")?, "role", "user"),
        ResponseFormat::OpenAiResponses => match v.get("input")? {
            Value::String(s) => Some(s.clone()),
            items => last_with_role(items, "role", "user"),
        },
        ResponseFormat::Gemini => {
            let contents = v.get("contents")?.as_array()?;
            contents
                .iter()
                .rev()
                .filter(|c| {
                    c.get("role")
                        .and_then(Value::as_str)
                        .is_none_or(|r| r == "user")
                })
                .find_map(|c| text_of(c.get("parts")?))
        }
    }
}

/// The text of the last element of `items` whose `key` is `role` and that has text.
fn last_with_role(items: &Value, key: &str, role: &str) -> Option<String> {
    items
        .as_array()?
        .iter()
        .rev()
        .filter(|m| m.get(key).and_then(Value::as_str) == Some(role))
        .find_map(|m| text_of(m.get("content")?))
}

/// A content value's text: a string, or the `text` of each part (Anthropic and Converse text
/// blocks, Chat `text` parts, Responses `input_text`, Gemini parts) joined with newlines.
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|p| {
                    p.get("type")
                        .and_then(Value::as_str)
                        .is_none_or(|t| t == "text" || t == "input_text")
                })
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_gives_its_last_user_text() {
        let anthropic = br#"{"messages":[{"role":"user","content":"first"},{"role":"assistant","content":"ok"},
            {"role":"user","content":[{"type":"tool_result","content":"x"},{"type":"text","text":"second"}]}]}"#;
        assert_eq!(
            last_user_message(ResponseFormat::AnthropicMessages, anthropic).as_deref(),
            Some("second")
        );
        let chat = br#"{"messages":[{"role":"system","content":"sys"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"},{"type":"text","text":"b"}]}]}"#;
        assert_eq!(
            last_user_message(ResponseFormat::OpenAiChat, chat).as_deref(),
            Some("a\nb")
        );
        let responses = br#"{"input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]},{"type":"function_call_output","output":"42"}]}"#;
        assert_eq!(
            last_user_message(ResponseFormat::OpenAiResponses, responses).as_deref(),
            Some("hi")
        );
        assert_eq!(
            last_user_message(ResponseFormat::OpenAiResponses, br#"{"input":"plain"}"#).as_deref(),
            Some("plain")
        );
        let gemini = br#"{"contents":[{"role":"user","parts":[{"text":"q1"}]},{"role":"model","parts":[{"text":"a1"}]},{"parts":[{"text":"q2"}]}]}"#;
        assert_eq!(
            last_user_message(ResponseFormat::Gemini, gemini).as_deref(),
            Some("q2")
        );
        let converse = br#"{"messages":[{"role":"user","content":[{"text":"c"}]}]}"#;
        assert_eq!(
            last_user_message(ResponseFormat::BedrockConverse, converse).as_deref(),
            Some("c")
        );
        assert_eq!(
            last_user_message(ResponseFormat::OpenAiChat, b"not json"),
            None
        );
        assert_eq!(
            last_user_message(ResponseFormat::OpenAiChat, br#"{"messages":[]}"#),
            None
        );
    }
}
