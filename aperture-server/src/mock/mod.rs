//! A mock LLM provider for tests and benches (being written).
