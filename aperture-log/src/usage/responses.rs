//! OpenAI Responses: usage, `function_call` / `custom_tool_call` output items; a stream's body is
//! the `response` of its terminal event.

use std::collections::BTreeMap;

use serde_json::Value;

use super::json::{self, Budget, MAX_ITEMS};
use crate::record::{Observation, ToolCall, Usage};

/// Usage from a Responses `usage` object: input = input − cached.
pub(crate) fn usage(u: &Value) -> Usage {
    let cached = u
        .get("input_tokens_details")
        .map_or(0, |d| json::num(d, "cached_tokens"));
    let reasoning = u
        .get("output_tokens_details")
        .map_or(0, |d| json::num(d, "reasoning_tokens"));
    Usage {
        input: json::num(u, "input_tokens").saturating_sub(cached),
        output: json::num(u, "output_tokens"),
        cache_read: cached,
        reasoning,
        ..Usage::default()
    }
}

/// The tool call an output item holds, if it is one.
fn tool_call(item: &Value) -> Option<ToolCall> {
    let params = match json::text(item, "type")? {
        "function_call" => json::params_of(item, "arguments"),
        "custom_tool_call" => item.get("input").cloned().unwrap_or(Value::Null),
        _ => return None,
    };
    Some(ToolCall {
        id: json::owned(item, "call_id")
            .or_else(|| json::owned(item, "id"))
            .unwrap_or_default(),
        name: json::owned(item, "name").unwrap_or_default(),
        params,
    })
}

/// A non-stream `response` object.
pub(crate) fn document(doc: &Value, obs: &mut Observation) {
    obs.usage = match doc.get("usage") {
        Some(u) if u.is_object() => usage(u),
        _ => json::missing(),
    };
    obs.tool_calls = json::items(doc, "output")
        .iter()
        .filter_map(tool_call)
        .collect();
    obs.response_id = json::owned(doc, "id");
    obs.response_model = json::owned(doc, "model");
}

/// A stream in progress.
#[derive(Debug)]
pub(crate) struct Stream {
    id: Option<String>,
    model: Option<String>,
    /// Tool-call items from `response.output_item.done`, by output index.
    items: BTreeMap<u64, ToolCall>,
    terminal: Option<Value>,
    terminal_size: usize,
    error: Option<String>,
    args_used: usize,
    budget: Budget,
}

impl Stream {
    /// A stream whose body may hold `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            id: None,
            model: None,
            items: BTreeMap::new(),
            terminal: None,
            terminal_size: 0,
            error: None,
            args_used: 0,
            budget: Budget::new(cap),
        }
    }

    /// One event: `name` is the SSE event type, `data` its JSON.
    pub(crate) fn event(&mut self, name: &str, data: &str) {
        let Ok(mut v) = serde_json::from_str::<Value>(data) else {
            return;
        };
        let kind = json::text(&v, "type").unwrap_or(name).to_string();
        match kind.as_str() {
            "response.created" | "response.in_progress" | "response.queued" => {
                if let Some(r) = v.get("response") {
                    self.id = json::owned(r, "id").or(self.id.take());
                    self.model = json::owned(r, "model").or(self.model.take());
                }
            }
            "response.output_item.done" => {
                let index = json::num(&v, "output_index");
                let call = v.get("item").and_then(tool_call);
                if let Some(call) = call {
                    let size = call.params.to_string().len();
                    if (self.items.len() < MAX_ITEMS || self.items.contains_key(&index))
                        && self.args_used + size <= json::ARGS_LIMIT
                    {
                        self.args_used += size;
                        self.items.insert(index, call);
                    }
                }
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                let response = v.get_mut("response").map(Value::take);
                let response = response.unwrap_or(Value::Null);
                if kind == "response.failed" {
                    self.error = response
                        .get("error")
                        .filter(|e| !e.is_null())
                        .and_then(json::error_message)
                        .or(Some("response failed".into()));
                }
                self.terminal = Some(response);
                self.terminal_size = data.len();
            }
            "error" => {
                self.error = json::error_message(&v).or(Some("error".into()));
            }
            _ => {}
        }
    }

    /// Ends the stream.
    pub(crate) fn finish(mut self, obs: &mut Observation) {
        obs.incomplete = self.terminal.is_none();
        obs.stream_error = self.error;
        let Some(r) = self.terminal else {
            obs.usage = json::missing();
            obs.tool_calls = self.items.into_values().collect();
            obs.response_id = self.id;
            obs.response_model = self.model;
            return;
        };
        document(&r, obs);
        obs.response_id = obs.response_id.take().or(self.id);
        obs.response_model = obs.response_model.take().or(self.model);
        if obs.tool_calls.is_empty() {
            obs.tool_calls = self.items.into_values().collect();
        }
        if self.budget.take(self.terminal_size) && r.is_object() {
            obs.response_body = Some(r);
        }
    }
}
