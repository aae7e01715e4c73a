//! Bedrock Converse: `usage`, `toolUse` blocks; `converse-stream` events rebuilt into the
//! equivalent `converse` response.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::json::{self, Budget, MAX_ITEMS};
use crate::record::{Observation, ToolCall, Usage};

/// Usage from a Converse `usage` object (already disjoint).
pub(crate) fn usage(u: &Value) -> Usage {
    Usage {
        input: json::num(u, "inputTokens"),
        output: json::num(u, "outputTokens"),
        cache_read: json::num(u, "cacheReadInputTokens"),
        cache_write_5m: json::num(u, "cacheWriteInputTokens"),
        ..Usage::default()
    }
}

/// A non-stream `converse` response.
pub(crate) fn document(doc: &Value, obs: &mut Observation) {
    obs.usage = match doc.get("usage") {
        Some(u) if u.is_object() => usage(u),
        _ => json::missing(),
    };
    let message = doc.get("output").and_then(|o| o.get("message"));
    obs.tool_calls = message
        .map(|m| json::items(m, "content"))
        .unwrap_or_default()
        .iter()
        .filter_map(|b| b.get("toolUse"))
        .map(|t| ToolCall {
            id: json::owned(t, "toolUseId").unwrap_or_default(),
            name: json::owned(t, "name").unwrap_or_default(),
            params: t.get("input").cloned().unwrap_or(Value::Null),
        })
        .collect();
}

#[derive(Debug, Default)]
struct Block {
    text: Option<String>,
    reasoning: Option<String>,
    tool: Option<(String, String)>,
    input: String,
}

/// A stream in progress.
#[derive(Debug)]
pub(crate) struct Stream {
    role: Option<Value>,
    blocks: BTreeMap<u64, Block>,
    stop_reason: Option<Value>,
    stopped: bool,
    metadata: Option<Value>,
    error: Option<String>,
    args_used: usize,
    budget: Budget,
}

/// The event names of `converse-stream`.
const EVENTS: [&str; 6] = [
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
];

impl Stream {
    /// A stream whose rebuilt body may hold `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            role: None,
            blocks: BTreeMap::new(),
            stop_reason: None,
            stopped: false,
            metadata: None,
            error: None,
            args_used: 0,
            budget: Budget::new(cap),
        }
    }

    /// Records an exception or error frame.
    pub(crate) fn fail(&mut self, message: String) {
        self.error = Some(message);
    }

    /// One event: `name` is the `:event-type`; the payload may also be wrapped as
    /// `{"<eventType>": {…}}`.
    pub(crate) fn event(&mut self, name: &str, data: &str) {
        let Ok(mut v) = serde_json::from_str::<Value>(data) else {
            return;
        };
        let mut name = name.to_string();
        if !EVENTS.contains(&name.as_str()) {
            let wrapped = v.as_object().and_then(|o| {
                let (k, _) = o.iter().next()?;
                (o.len() == 1 && EVENTS.contains(&k.as_str())).then(|| k.clone())
            });
            match wrapped {
                Some(k) => {
                    v = v.get_mut(&k).map(Value::take).unwrap_or(Value::Null);
                    name = k;
                }
                None => return,
            }
        }
        let index = json::num(&v, "contentBlockIndex");
        let room = self.blocks.len() < MAX_ITEMS || self.blocks.contains_key(&index);
        match name.as_str() {
            "messageStart" => self.role = v.get("role").cloned(),
            "contentBlockStart" if room => {
                if let Some(t) = v.get("start").and_then(|s| s.get("toolUse")) {
                    let block = self.blocks.entry(index).or_default();
                    block.tool = Some((
                        json::owned(t, "toolUseId").unwrap_or_default(),
                        json::owned(t, "name").unwrap_or_default(),
                    ));
                }
            }
            "contentBlockDelta" if room => self.delta(index, &v),
            "messageStop" => {
                self.stopped = true;
                self.stop_reason = v.get("stopReason").cloned();
            }
            "metadata" => self.metadata = Some(v),
            _ => {}
        }
    }

    fn delta(&mut self, index: u64, v: &Value) {
        let Some(d) = v.get("delta") else {
            return;
        };
        let block = self.blocks.entry(index).or_default();
        if let Some(input) = d.get("toolUse").and_then(|t| json::text(t, "input")) {
            json::append_bounded(&mut block.input, &mut self.args_used, input);
            return;
        }
        let (slot, add) = match (
            json::text(d, "text"),
            d.get("reasoningContent")
                .and_then(|r| json::text(r, "text")),
        ) {
            (Some(t), _) => (&mut block.text, t),
            (None, Some(r)) => (&mut block.reasoning, r),
            _ => return,
        };
        if self.budget.take(add.len()) {
            slot.get_or_insert_with(String::new).push_str(add);
        }
    }

    /// Ends the stream.
    pub(crate) fn finish(self, obs: &mut Observation) {
        let meta = self.metadata.unwrap_or(Value::Null);
        obs.usage = match meta.get("usage") {
            Some(u) if u.is_object() => usage(u),
            _ => json::missing(),
        };
        obs.incomplete = !self.stopped;
        obs.stream_error = self.error;
        let mut content = Vec::with_capacity(self.blocks.len());
        for b in self.blocks.into_values() {
            if let Some((id, name)) = b.tool {
                let input = if b.input.is_empty() {
                    json!({})
                } else {
                    json::params(&b.input)
                };
                obs.tool_calls.push(ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    params: input.clone(),
                });
                content.push(json!({"toolUse": {"toolUseId": id, "name": name, "input": input}}));
            } else if let Some(r) = b.reasoning {
                content.push(json!({"reasoningContent": {"reasoningText": {"text": r}}}));
            } else if let Some(t) = b.text {
                content.push(json!({ "text": t }));
            }
        }
        if self.budget.ok() {
            let mut body = json!({
                "output": {"message": {"role": self.role.unwrap_or("assistant".into()),
                                       "content": content}},
                "stopReason": self.stop_reason,
            });
            for key in ["usage", "metrics"] {
                if let Some(v) = meta.get(key) {
                    json::set(&mut body, key, v.clone());
                }
            }
            obs.response_body = Some(body);
        }
    }
}
