//! Anthropic Messages (also Claude on Bedrock invoke and Vertex raw predict): usage, `tool_use`
//! blocks, and the stream rebuilt into the equivalent message.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::json::{self, Budget, MAX_ITEMS};
use crate::record::{Observation, ToolCall, Usage};

/// Usage from an Anthropic `usage` object (already disjoint).
pub(crate) fn usage(u: &Value) -> Usage {
    let creation = json::num(u, "cache_creation_input_tokens");
    let (w5, w1) = match u.get("cache_creation") {
        Some(cc) if cc.is_object() => {
            let (a, b) = (
                json::num(cc, "ephemeral_5m_input_tokens"),
                json::num(cc, "ephemeral_1h_input_tokens"),
            );
            if a + b == 0 { (creation, 0) } else { (a, b) }
        }
        _ => (creation, 0),
    };
    let web_search = u
        .get("server_tool_use")
        .map_or(0, |s| json::num(s, "web_search_requests"));
    Usage {
        input: json::num(u, "input_tokens"),
        output: json::num(u, "output_tokens"),
        cache_read: json::num(u, "cache_read_input_tokens"),
        cache_write_5m: w5,
        cache_write_1h: w1,
        web_search,
        ..Usage::default()
    }
}

/// Usage from Bedrock's `amazon-bedrock-invocationMetrics`.
pub(crate) fn bedrock_metrics_usage(m: &Value) -> Usage {
    Usage {
        input: json::num(m, "inputTokenCount"),
        output: json::num(m, "outputTokenCount"),
        cache_read: json::num(m, "cacheReadInputTokenCount"),
        cache_write_5m: json::num(m, "cacheWriteInputTokenCount"),
        ..Usage::default()
    }
}

fn tool_call(block: &Value, input: Value) -> ToolCall {
    ToolCall {
        id: json::owned(block, "id").unwrap_or_default(),
        name: json::owned(block, "name").unwrap_or_default(),
        params: input,
    }
}

/// A non-stream message.
pub(crate) fn document(doc: &Value, obs: &mut Observation) {
    obs.usage = match doc.get("usage") {
        Some(u) if u.is_object() => usage(u),
        _ => json::missing(),
    };
    obs.tool_calls = json::items(doc, "content")
        .iter()
        .filter(|b| json::text(b, "type") == Some("tool_use"))
        .map(|b| tool_call(b, b.get("input").cloned().unwrap_or(Value::Null)))
        .collect();
    obs.response_id = json::owned(doc, "id");
    obs.response_model = json::owned(doc, "model");
}

#[derive(Debug, Default)]
struct Block {
    start: Value,
    text: String,
    thinking: String,
    signature: Option<String>,
    citations: Vec<Value>,
    json: String,
}

/// A stream in progress.
#[derive(Debug)]
pub(crate) struct Stream {
    message: Option<Value>,
    usage: Option<Map<String, Value>>,
    delta: Map<String, Value>,
    blocks: BTreeMap<u64, Block>,
    stopped: bool,
    error: Option<String>,
    metrics: Option<Value>,
    args_used: usize,
    budget: Budget,
}

impl Stream {
    /// A stream whose rebuilt body may hold `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            message: None,
            usage: None,
            delta: Map::new(),
            blocks: BTreeMap::new(),
            stopped: false,
            error: None,
            metrics: None,
            args_used: 0,
            budget: Budget::new(cap),
        }
    }

    /// Records an error that ended the stream (a Bedrock exception frame).
    pub(crate) fn fail(&mut self, message: String) {
        self.error = Some(message);
    }

    /// One event: `name` is the SSE event type, `data` its JSON.
    pub(crate) fn event(&mut self, name: &str, data: &str) {
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            if name == "error" {
                self.error = Some(data.chars().take(1000).collect());
            }
            return;
        };
        if let Some(m) = v.get("amazon-bedrock-invocationMetrics") {
            self.metrics = Some(m.clone());
        }
        let kind = json::text(&v, "type").unwrap_or(name);
        match kind {
            "message_start" => self.start(&v),
            "content_block_start" => {
                let index = json::num(&v, "index");
                if self.blocks.len() < MAX_ITEMS || self.blocks.contains_key(&index) {
                    let start = v.get("content_block").cloned().unwrap_or(Value::Null);
                    if !self.budget.take(data.len()) {
                        self.drop_body();
                    }
                    self.blocks.insert(
                        index,
                        Block {
                            start,
                            ..Block::default()
                        },
                    );
                }
            }
            "content_block_delta" => self.block_delta(&v),
            "message_delta" => {
                if let Some(Value::Object(d)) = v.get("delta") {
                    for (k, val) in d {
                        self.delta.insert(k.clone(), val.clone());
                    }
                }
                if let Some(Value::Object(u)) = v.get("usage") {
                    let merged = self.usage.get_or_insert_with(Map::new);
                    for (k, val) in u {
                        if !val.is_null() {
                            merged.insert(k.clone(), val.clone());
                        }
                    }
                }
            }
            "message_stop" => self.stopped = true,
            "error" => {
                self.error = json::error_message(&v).or(Some("error".into()));
            }
            _ if name == "error" => {
                self.error = json::error_message(&v).or(Some("error".into()));
            }
            _ => {}
        }
    }

    fn start(&mut self, v: &Value) {
        let Some(Value::Object(m)) = v.get("message") else {
            return;
        };
        let mut m = m.clone();
        if let Some(Value::Object(u)) = m.remove("usage") {
            self.usage = Some(u);
        }
        self.message = Some(Value::Object(m));
    }

    fn block_delta(&mut self, v: &Value) {
        let Some(block) = self.blocks.get_mut(&json::num(v, "index")) else {
            return;
        };
        let Some(d) = v.get("delta") else {
            return;
        };
        if json::text(d, "type") == Some("input_json_delta") {
            let part = json::text(d, "partial_json").unwrap_or("");
            json::append_bounded(&mut block.json, &mut self.args_used, part);
            return;
        }
        if !self.budget.ok() {
            return;
        }
        let (field, size) = match json::text(d, "type") {
            Some("text_delta") => ("text", json::text(d, "text").map_or(0, str::len)),
            Some("thinking_delta") => ("thinking", json::text(d, "thinking").map_or(0, str::len)),
            Some("signature_delta") => {
                ("signature", json::text(d, "signature").map_or(0, str::len))
            }
            Some("citations_delta") => ("citation", 256),
            _ => return,
        };
        if !self.budget.take(size) {
            self.drop_body();
            return;
        }
        let s = json::text(d, field).unwrap_or("");
        match field {
            "text" => block.text.push_str(s),
            "thinking" => block.thinking.push_str(s),
            "signature" => block.signature = Some(s.to_string()),
            _ => block.citations.extend(d.get("citation").cloned()),
        }
    }

    fn drop_body(&mut self) {
        for b in self.blocks.values_mut() {
            b.text = String::new();
            b.thinking = String::new();
            b.citations = Vec::new();
        }
    }

    /// Ends the stream.
    pub(crate) fn finish(self, obs: &mut Observation) {
        obs.usage = match (&self.usage, &self.metrics) {
            (Some(u), _) => usage(&Value::Object(u.clone())),
            (None, Some(m)) => bedrock_metrics_usage(m),
            (None, None) => json::missing(),
        };
        obs.incomplete = !self.stopped;
        obs.stream_error = self.error;
        if let Some(m) = &self.message {
            obs.response_id = json::owned(m, "id");
            obs.response_model = json::owned(m, "model");
        }
        let mut content = Vec::with_capacity(self.blocks.len());
        for block in self.blocks.into_values() {
            let mut b = block.start;
            let kind = json::text(&b, "type").unwrap_or("").to_string();
            let is_tool = kind == "tool_use" || kind.ends_with("_tool_use");
            if is_tool && !block.json.is_empty() {
                json::set(&mut b, "input", json::params(&block.json));
            }
            if kind == "tool_use" {
                obs.tool_calls.push(tool_call(
                    &b,
                    b.get("input").cloned().unwrap_or(Value::Null),
                ));
            }
            match kind.as_str() {
                "text" => {
                    json::set(&mut b, "text", Value::String(block.text));
                    if !block.citations.is_empty() {
                        json::set(&mut b, "citations", Value::Array(block.citations));
                    }
                }
                "thinking" => {
                    json::set(&mut b, "thinking", Value::String(block.thinking));
                    if let Some(s) = block.signature {
                        json::set(&mut b, "signature", Value::String(s));
                    }
                }
                _ => {}
            }
            content.push(b);
        }
        if let (Some(Value::Object(mut m)), true) = (self.message, self.budget.ok()) {
            m.insert("content".into(), Value::Array(content));
            for (k, v) in self.delta {
                m.insert(k, v);
            }
            if let Some(u) = self.usage {
                m.insert("usage".into(), Value::Object(u));
            }
            obs.response_body = Some(Value::Object(m));
        }
    }
}
