//! Usage, tool-call and session extraction (SPEC.md §8.2, §8.4).
//!
//! - [`Observer`]: fed every relayed response chunk, it decodes a copy (gzip, deflate, br),
//!   frames it (SSE, Bedrock event-stream, or one JSON document) and returns an
//!   [`Observation`](crate::Observation): usage, tool calls, response id and model, and the
//!   response body (streams rebuilt into the equivalent non-stream JSON).
//! - [`sse`]: the incremental WHATWG event-stream parser.
//! - [`eventstream`]: the AWS event-stream frame parser.
//! - [`session`]: session ids and their sources.
//! - [`last_user_message`]: the last user turn's text of a request, for hooks.
//!
//! Everything is bounded: SSE events over 16 MiB are dropped, documents are buffered up to the
//! larger of the capture cap and 16 MiB, tool arguments up to 8 MiB per response, and at most
//! 256 MiB of decoded bytes are looked at.

mod anthropic;
mod chat;
mod converse;
mod decode;
pub mod eventstream;
mod extract;
mod format;
mod gemini;
mod json;
mod observer;
mod prompt;
mod responses;
pub mod session;
pub mod sse;

pub use format::ResponseFormat;
pub use observer::{MAX_OBSERVED, MIN_DOCUMENT_BUFFER, Observer};
pub use prompt::last_user_message;
pub use session::{SessionHooks, SessionSource, session_id};
pub use sse::{SseEvent, SseParser};
