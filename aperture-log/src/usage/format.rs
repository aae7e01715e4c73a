//! Which wire format a response body is in.

/// The response format of an inference endpoint (SPEC.md §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseFormat {
    /// Anthropic Messages (`/v1/messages`), also Claude on Vertex `rawPredict` /
    /// `streamRawPredict`.
    AnthropicMessages,
    /// OpenAI Chat Completions.
    OpenAiChat,
    /// OpenAI Responses.
    OpenAiResponses,
    /// Gemini `generateContent` / `streamGenerateContent`, also Vertex Gemini.
    Gemini,
    /// Bedrock `invoke` / `invoke-with-response-stream` (Anthropic bodies, event-stream frames).
    BedrockInvoke,
    /// Bedrock `converse` / `converse-stream`.
    BedrockConverse,
    /// Token counting (Anthropic `count_tokens`, Gemini `countTokens`, Bedrock `count-tokens`,
    /// Responses `input_tokens`): the input count is recorded, the cost is 0.
    CountTokens,
}

impl ResponseFormat {
    /// The format of an endpoint, from its `api_type` (SPEC.md §3.2) and path (as received).
    /// `None` for an unknown `api_type`.
    pub fn for_endpoint(api_type: &str, path: &str) -> Option<Self> {
        let path = path.split('?').next().unwrap_or(path);
        let counting = path.ends_with(":countTokens")
            || path.ends_with("/count-tokens")
            || path.ends_with("count-tokens:rawPredict")
            || path.ends_with("/count_tokens")
            || path.ends_with("/input_tokens");
        if counting || api_type == "ant_count_tokens" {
            return Some(Self::CountTokens);
        }
        Some(match api_type {
            "ant_messages" | "vertex_raw_predict" => Self::AnthropicMessages,
            "oai_completions" => Self::OpenAiChat,
            "oai_responses" => Self::OpenAiResponses,
            "gemini_generate_content" | "vertex_generate_content" => Self::Gemini,
            "bedrock_invoke" => Self::BedrockInvoke,
            "bedrock_converse" => Self::BedrockConverse,
            _ => return None,
        })
    }

    /// Whether the endpoint only counts tokens (cost 0).
    pub fn is_count_tokens(self) -> bool {
        self == Self::CountTokens
    }

    /// Whether requests in this format carry Anthropic `metadata.user_id`.
    pub fn is_anthropic(self) -> bool {
        matches!(self, Self::AnthropicMessages | Self::BedrockInvoke)
    }
}

#[cfg(test)]
mod tests {
    use super::ResponseFormat as F;

    #[test]
    fn endpoints() {
        assert_eq!(
            F::for_endpoint("ant_messages", "/v1/messages?beta=true"),
            Some(F::AnthropicMessages)
        );
        assert_eq!(
            F::for_endpoint("ant_count_tokens", "/v1/messages/count_tokens"),
            Some(F::CountTokens)
        );
        assert_eq!(
            F::for_endpoint("gemini_generate_content", "/v1beta/models/g:countTokens"),
            Some(F::CountTokens)
        );
        assert_eq!(
            F::for_endpoint(
                "vertex_raw_predict",
                "/v1/projects/p/locations/l/publishers/anthropic/models/count-tokens:rawPredict"
            ),
            Some(F::CountTokens)
        );
        assert_eq!(
            F::for_endpoint("oai_responses", "/v1/responses/input_tokens"),
            Some(F::CountTokens)
        );
        assert_eq!(
            F::for_endpoint("bedrock_converse", "/bedrock/model/m/converse-stream"),
            Some(F::BedrockConverse)
        );
        assert_eq!(F::for_endpoint("nope", "/x"), None);
    }
}
