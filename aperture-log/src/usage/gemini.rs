//! Gemini and Vertex Gemini: `usageMetadata`, `functionCall` parts; streams (SSE chunks or one
//! JSON array) are rebuilt into one `GenerateContentResponse`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::json::{self, Budget, MAX_ITEMS};
use crate::record::{Observation, ToolCall, Usage};

/// Usage from `usageMetadata`: input = prompt − cached + tool-use prompt; output = candidates +
/// thoughts; reasoning = thoughts.
pub(crate) fn usage(m: &Value) -> Usage {
    let cached = json::num(m, "cachedContentTokenCount");
    let thoughts = json::num(m, "thoughtsTokenCount");
    Usage {
        input: json::num(m, "promptTokenCount").saturating_sub(cached)
            + json::num(m, "toolUsePromptTokenCount"),
        output: json::num(m, "candidatesTokenCount") + thoughts,
        cache_read: cached,
        reasoning: thoughts,
        ..Usage::default()
    }
}

#[derive(Debug, Default)]
struct Candidate {
    role: Option<Value>,
    parts: Vec<Value>,
    finish_reason: Option<Value>,
}

/// A response in progress (a stream's chunks, or a single document).
#[derive(Debug)]
pub(crate) struct Stream {
    usage: Option<Value>,
    model: Option<String>,
    id: Option<String>,
    candidates: BTreeMap<u64, Candidate>,
    tools: Vec<ToolCall>,
    finished: bool,
    error: Option<String>,
    args_used: usize,
    budget: Budget,
}

impl Stream {
    /// A response whose rebuilt body may hold `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            usage: None,
            model: None,
            id: None,
            candidates: BTreeMap::new(),
            tools: Vec::new(),
            finished: false,
            error: None,
            args_used: 0,
            budget: Budget::new(cap),
        }
    }

    /// One SSE `data:` payload.
    pub(crate) fn event(&mut self, data: &str) {
        if let Ok(v) = serde_json::from_str::<Value>(data) {
            match v {
                Value::Array(chunks) => chunks.iter().for_each(|c| self.chunk(c)),
                v => self.chunk(&v),
            }
        }
    }

    /// One `GenerateContentResponse`.
    pub(crate) fn chunk(&mut self, v: &Value) {
        if v.get("error").is_some_and(|e| !e.is_null()) {
            self.error = json::error_message(v);
            return;
        }
        if let Some(m) = v.get("usageMetadata").filter(|m| m.is_object()) {
            self.usage = Some(m.clone());
        }
        if let Some(m) = json::owned(v, "modelVersion") {
            self.model = Some(m);
        }
        if let Some(id) = json::owned(v, "responseId") {
            self.id = Some(id);
        }
        for (pos, c) in json::items(v, "candidates").iter().enumerate() {
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
            if self.candidates.len() >= MAX_ITEMS && !self.candidates.contains_key(&index) {
                continue;
            }
            let cand = self.candidates.entry(index).or_default();
            if let Some(r) = c.get("finishReason").filter(|r| !r.is_null()) {
                cand.finish_reason = Some(r.clone());
                self.finished = true;
            }
            let Some(content) = c.get("content") else {
                continue;
            };
            if let Some(role) = content.get("role") {
                cand.role = Some(role.clone());
            }
            for part in json::items(content, "parts") {
                if let Some(f) = part.get("functionCall") {
                    let args = f.get("args").cloned().unwrap_or(Value::Null);
                    let size = args.to_string().len();
                    if self.tools.len() < MAX_ITEMS && self.args_used + size <= json::ARGS_LIMIT {
                        self.args_used += size;
                        self.tools.push(ToolCall {
                            id: json::owned(f, "id").unwrap_or_default(),
                            name: json::owned(f, "name").unwrap_or_default(),
                            params: args,
                        });
                    }
                }
                merge_part(cand, part, &mut self.budget);
            }
        }
    }

    /// Ends the response; `stream` says whether it came in chunks.
    pub(crate) fn finish(self, obs: &mut Observation, stream: bool) {
        obs.usage = self.usage.as_ref().map_or_else(json::missing, usage);
        obs.tool_calls = self.tools;
        obs.response_model = self.model.clone();
        obs.response_id = self.id.clone();
        if !stream {
            return;
        }
        obs.incomplete = !self.finished;
        obs.stream_error = self.error;
        if !self.budget.ok() {
            return;
        }
        let candidates: Vec<Value> = self
            .candidates
            .into_iter()
            .map(|(index, c)| {
                let mut content = Map::new();
                content.insert("parts".into(), Value::Array(c.parts));
                if let Some(role) = c.role {
                    content.insert("role".into(), role);
                }
                let mut cand = json!({"content": content, "index": index});
                if let Some(r) = c.finish_reason {
                    json::set(&mut cand, "finishReason", r);
                }
                cand
            })
            .collect();
        let mut body = json!({ "candidates": candidates });
        for (key, val) in [
            ("usageMetadata", self.usage),
            ("modelVersion", self.model.map(Value::String)),
            ("responseId", self.id.map(Value::String)),
        ] {
            if let Some(val) = val {
                json::set(&mut body, key, val);
            }
        }
        obs.response_body = Some(body);
    }
}

/// Appends a part to a candidate, joining consecutive text parts of the same kind.
fn merge_part(cand: &mut Candidate, part: &Value, budget: &mut Budget) {
    if !budget.ok() {
        return;
    }
    let add = json::text(part, "text");
    if !budget.take(add.map_or_else(|| part.to_string().len(), str::len)) {
        cand.parts = Vec::new();
        return;
    }
    let thought = part
        .get("thought")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let (Some(add), Some(Value::Object(last))) = (add, cand.parts.last_mut()) {
        let same_kind = last
            .get("thought")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            == thought;
        let plain = |m: &Map<String, Value>| m.keys().all(|k| k == "text" || k == "thought");
        if same_kind && plain(last) && part.as_object().is_some_and(plain) {
            if let Some(Value::String(t)) = last.get_mut("text") {
                t.push_str(add);
                return;
            }
        }
    }
    cand.parts.push(part.clone());
}
