//! The API families a caller can speak: their `api_type` names, flags and error envelopes.

use std::fmt;

use aperture_config::CompatFlag;

/// The caller's error-envelope family (SPEC.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiFormat {
    /// `{"type":"error","error":{"type":…,"message":…}}`.
    Anthropic,
    /// `{"error":{"message":…,"type":…,"param":null,"code":…}}`.
    OpenAi,
    /// `{"error":{"code":…,"message":…,"status":…}}`, for Gemini and Vertex callers.
    Gemini,
    /// `{"message":…}` plus an `x-amzn-ErrorType` header.
    Bedrock,
}

/// The kind of inference endpoint a request hit (the `api_type` column of SPEC.md §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiType {
    /// OpenAI chat completions.
    OaiCompletions,
    /// OpenAI responses (including compact, input tokens and responses by id).
    OaiResponses,
    /// Anthropic messages.
    AntMessages,
    /// Anthropic token counting.
    AntCountTokens,
    /// Gemini API `generateContent` and friends.
    GeminiGenerateContent,
    /// Bedrock `InvokeModel` and friends.
    BedrockInvoke,
    /// Bedrock `Converse` and `ConverseStream`.
    BedrockConverse,
    /// Vertex AI `generateContent` and friends.
    VertexGenerateContent,
    /// Vertex AI `rawPredict` and `streamRawPredict`.
    VertexRawPredict,
}

impl ApiType {
    /// Every api type.
    pub const ALL: [ApiType; 9] = [
        Self::OaiCompletions,
        Self::OaiResponses,
        Self::AntMessages,
        Self::AntCountTokens,
        Self::GeminiGenerateContent,
        Self::BedrockInvoke,
        Self::BedrockConverse,
        Self::VertexGenerateContent,
        Self::VertexRawPredict,
    ];

    /// The name recorded in the request log (`oai_completions`, `ant_messages`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OaiCompletions => "oai_completions",
            Self::OaiResponses => "oai_responses",
            Self::AntMessages => "ant_messages",
            Self::AntCountTokens => "ant_count_tokens",
            Self::GeminiGenerateContent => "gemini_generate_content",
            Self::BedrockInvoke => "bedrock_invoke",
            Self::BedrockConverse => "bedrock_converse",
            Self::VertexGenerateContent => "vertex_generate_content",
            Self::VertexRawPredict => "vertex_raw_predict",
        }
    }

    /// The compatibility flag a provider needs to serve this api type.
    ///
    /// `vertex_generate_content` reached through `/{v}/publishers/google/models/…` needs
    /// `experimental_gemini_cli_vertex_compat` instead; [`crate::Endpoint::flag`] has the
    /// flag of the actual endpoint.
    pub fn flag(self) -> CompatFlag {
        match self {
            Self::OaiCompletions => CompatFlag::OpenaiChat,
            Self::OaiResponses => CompatFlag::OpenaiResponses,
            Self::AntMessages | Self::AntCountTokens => CompatFlag::AnthropicMessages,
            Self::GeminiGenerateContent => CompatFlag::GeminiGenerateContent,
            Self::BedrockInvoke => CompatFlag::BedrockModelInvoke,
            Self::BedrockConverse => CompatFlag::BedrockConverse,
            Self::VertexGenerateContent => CompatFlag::GoogleGenerateContent,
            Self::VertexRawPredict => CompatFlag::GoogleRawPredict,
        }
    }

    /// The envelope family gateway-made errors use on this api type.
    pub fn format(self) -> ApiFormat {
        match self {
            Self::OaiCompletions | Self::OaiResponses => ApiFormat::OpenAi,
            Self::AntMessages | Self::AntCountTokens => ApiFormat::Anthropic,
            Self::GeminiGenerateContent | Self::VertexGenerateContent | Self::VertexRawPredict => {
                ApiFormat::Gemini
            }
            Self::BedrockInvoke | Self::BedrockConverse => ApiFormat::Bedrock,
        }
    }
}

impl fmt::Display for ApiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_flags_and_formats() {
        let expected = [
            ("oai_completions", "openai_chat", ApiFormat::OpenAi),
            ("oai_responses", "openai_responses", ApiFormat::OpenAi),
            ("ant_messages", "anthropic_messages", ApiFormat::Anthropic),
            (
                "ant_count_tokens",
                "anthropic_messages",
                ApiFormat::Anthropic,
            ),
            (
                "gemini_generate_content",
                "gemini_generate_content",
                ApiFormat::Gemini,
            ),
            ("bedrock_invoke", "bedrock_model_invoke", ApiFormat::Bedrock),
            ("bedrock_converse", "bedrock_converse", ApiFormat::Bedrock),
            (
                "vertex_generate_content",
                "google_generate_content",
                ApiFormat::Gemini,
            ),
            (
                "vertex_raw_predict",
                "google_raw_predict",
                ApiFormat::Gemini,
            ),
        ];
        for (t, (name, flag, format)) in ApiType::ALL.into_iter().zip(expected) {
            assert_eq!(t.as_str(), name);
            assert_eq!(t.to_string(), name);
            assert_eq!(t.flag().name(), flag, "{name}");
            assert_eq!(t.format(), format, "{name}");
        }
    }
}
