//! OpenAI Chat Completions: usage, `tool_calls`, and the stream rebuilt into a
//! `chat.completion`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::json::{self, Budget, MAX_ITEMS};
use crate::record::{Observation, ToolCall, Usage};

/// Usage from a Chat `usage` object: input = prompt − cached.
pub(crate) fn usage(u: &Value) -> Usage {
    let cached = u
        .get("prompt_tokens_details")
        .map_or(0, |d| json::num(d, "cached_tokens"));
    let reasoning = u
        .get("completion_tokens_details")
        .map_or(0, |d| json::num(d, "reasoning_tokens"));
    Usage {
        input: json::num(u, "prompt_tokens").saturating_sub(cached),
        output: json::num(u, "completion_tokens"),
        cache_read: cached,
        reasoning,
        ..Usage::default()
    }
}

/// A tool call from a message's `tool_calls[]` entry (`function` or `custom`).
fn tool_call(tc: &Value) -> ToolCall {
    let (name, params) = if let Some(f) = tc.get("function") {
        (json::owned(f, "name"), json::params_of(f, "arguments"))
    } else if let Some(c) = tc.get("custom") {
        (
            json::owned(c, "name"),
            c.get("input").cloned().unwrap_or(Value::Null),
        )
    } else {
        (None, Value::Null)
    };
    ToolCall {
        id: json::owned(tc, "id").unwrap_or_default(),
        name: name.unwrap_or_default(),
        params,
    }
}

/// A non-stream `chat.completion`.
pub(crate) fn document(doc: &Value, obs: &mut Observation) {
    obs.usage = match doc.get("usage") {
        Some(u) if u.is_object() => usage(u),
        _ => json::missing(),
    };
    obs.tool_calls = json::items(doc, "choices")
        .iter()
        .filter_map(|c| c.get("message"))
        .flat_map(|m| json::items(m, "tool_calls"))
        .map(tool_call)
        .collect();
    obs.response_id = json::owned(doc, "id");
    obs.response_model = json::owned(doc, "model");
}

#[derive(Debug, Default)]
struct ToolAcc {
    id: String,
    kind: String,
    name: String,
    args: String,
}

#[derive(Debug, Default)]
struct Choice {
    role: Option<String>,
    content: Option<String>,
    reasoning: Option<String>,
    refusal: Option<String>,
    tools: BTreeMap<u64, ToolAcc>,
    finish_reason: Option<Value>,
}

/// A stream in progress.
#[derive(Debug)]
pub(crate) struct Stream {
    head: Map<String, Value>,
    usage: Option<Value>,
    choices: BTreeMap<u64, Choice>,
    done: bool,
    error: Option<String>,
    args_used: usize,
    budget: Budget,
}

impl Stream {
    /// A stream whose rebuilt body may hold `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            head: Map::new(),
            usage: None,
            choices: BTreeMap::new(),
            done: false,
            error: None,
            args_used: 0,
            budget: Budget::new(cap),
        }
    }

    /// One `data:` payload.
    pub(crate) fn event(&mut self, data: &str) {
        if data.trim() == "[DONE]" {
            self.done = true;
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return;
        };
        if v.get("error").is_some_and(|e| !e.is_null()) {
            self.error = json::error_message(&v);
            return;
        }
        for key in [
            "id",
            "model",
            "created",
            "system_fingerprint",
            "service_tier",
        ] {
            match v.get(key) {
                Some(val) if !val.is_null() && !self.head.contains_key(key) => {
                    self.head.insert(key.into(), val.clone());
                }
                _ => {}
            }
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
        }
        for (pos, c) in json::items(&v, "choices").iter().enumerate() {
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
            if self.choices.len() >= MAX_ITEMS && !self.choices.contains_key(&index) {
                continue;
            }
            let choice = self.choices.entry(index).or_default();
            if let Some(r) = c.get("finish_reason").filter(|r| !r.is_null()) {
                choice.finish_reason = Some(r.clone());
            }
            let Some(d) = c.get("delta") else {
                continue;
            };
            if let Some(role) = json::owned(d, "role") {
                choice.role = Some(role);
            }
            for tc in json::items(d, "tool_calls") {
                tool_delta(choice, tc, &mut self.args_used);
            }
            for (key, slot) in [
                ("content", &mut choice.content),
                ("reasoning_content", &mut choice.reasoning),
                ("refusal", &mut choice.refusal),
            ] {
                if let Some(s) = json::text(d, key) {
                    if self.budget.take(s.len()) {
                        slot.get_or_insert_with(String::new).push_str(s);
                    }
                }
            }
        }
    }

    /// Ends the stream.
    pub(crate) fn finish(self, obs: &mut Observation) {
        obs.usage = self.usage.as_ref().map_or_else(json::missing, usage);
        obs.incomplete = !self.done;
        obs.stream_error = self.error;
        obs.response_id = self.head.get("id").and_then(Value::as_str).map(Into::into);
        obs.response_model = self
            .head
            .get("model")
            .and_then(Value::as_str)
            .map(Into::into);
        let mut choices = Vec::with_capacity(self.choices.len());
        for (index, c) in self.choices {
            let mut calls = Vec::with_capacity(c.tools.len());
            for t in c.tools.into_values() {
                let call = ToolCall {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    params: if t.kind == "custom" {
                        Value::String(t.args.clone())
                    } else {
                        json::params(&t.args)
                    },
                };
                calls.push(if t.kind == "custom" {
                    json!({"id": t.id, "type": "custom", "custom": {"name": t.name, "input": t.args}})
                } else {
                    json!({"id": t.id, "type": "function",
                           "function": {"name": t.name, "arguments": t.args}})
                });
                obs.tool_calls.push(call);
            }
            let mut message = json!({
                "role": c.role.unwrap_or_else(|| "assistant".into()),
                "content": c.content,
            });
            if let Some(r) = c.refusal {
                json::set(&mut message, "refusal", Value::String(r));
            }
            if let Some(r) = c.reasoning {
                json::set(&mut message, "reasoning_content", Value::String(r));
            }
            if !calls.is_empty() {
                json::set(&mut message, "tool_calls", Value::Array(calls));
            }
            choices.push(json!({
                "index": index,
                "message": message,
                "finish_reason": c.finish_reason,
                "logprobs": null,
            }));
        }
        if self.budget.ok() && !self.head.is_empty() {
            let mut body = self.head;
            body.insert("object".into(), "chat.completion".into());
            body.insert("choices".into(), Value::Array(choices));
            if let Some(u) = self.usage {
                body.insert("usage".into(), u);
            }
            obs.response_body = Some(Value::Object(body));
        }
    }
}

/// Merges one streamed `tool_calls[]` delta into its choice.
fn tool_delta(choice: &mut Choice, tc: &Value, args_used: &mut usize) {
    let id = json::text(tc, "id").filter(|s| !s.is_empty());
    let index = match tc.get("index").and_then(Value::as_u64) {
        Some(i) => i,
        // No index: a new id starts a new call, else it continues the last one.
        None => match (id, choice.tools.last_key_value()) {
            (Some(id), Some((k, t))) if t.id == id => *k,
            (None, Some((k, _))) => *k,
            _ => choice.tools.len() as u64,
        },
    };
    if choice.tools.len() >= MAX_ITEMS && !choice.tools.contains_key(&index) {
        return;
    }
    let acc = choice.tools.entry(index).or_default();
    if let Some(id) = id {
        acc.id = id.to_string();
    }
    if let Some(kind) = json::text(tc, "type") {
        acc.kind = kind.to_string();
    }
    let (f, args_key) = match (tc.get("function"), tc.get("custom")) {
        (Some(f), _) => (f, "arguments"),
        (None, Some(c)) => (c, "input"),
        _ => return,
    };
    if let Some(name) = json::text(f, "name").filter(|s| !s.is_empty()) {
        acc.name = name.to_string();
    }
    if let Some(a) = json::text(f, args_key) {
        json::append_bounded(&mut acc.args, args_used, a);
    }
}
