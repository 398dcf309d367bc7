//! The body of an OpenAI request, chat or completion, checked into what the
//! model is given (messages or a raw prompt) and how it generates.
//!
//! Honoured: `max_tokens` (or `max_completion_tokens`, capped by the server's
//! `--max-completion-tokens`), `temperature`, `top_p`, `seed`, `stop` and
//! `repeat_penalty` (llama.cpp's name). `model` is accepted and ignored (the
//! server runs one model); `n` must be 1. Refused with a 400, because ignoring
//! them would answer another request than the one sent: `tools` and
//! `functions`, a `tool_choice` that asks for one, a `response_format` other
//! than text, `logprobs`, `echo`, `suffix` and `best_of` above 1. Other fields
//! are ignored.

use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;

use crate::model::GenerateOptions;
use crate::model::Message;
use crate::serve::request::Fields;
use crate::serve::stream::ApiError;

/// Stop strings a request may give, and their length.
const MAX_STOPS: usize = 4;
const MAX_STOP_BYTES: usize = 64;
/// Default answer length when the request gives none.
const DEFAULT_MAX_TOKENS: usize = 512;
const ROLES: [&str; 3] = ["system", "user", "assistant"];

/// Both endpoints' fields: chat takes `messages`, a completion `prompt`.
#[derive(Deserialize)]
pub(super) struct OpenAiRequest {
    messages: Option<Vec<ChatMessage>>,
    prompt: Option<Prompt>,
    #[serde(default)]
    pub stream: bool,
    max_tokens: Option<usize>,
    max_completion_tokens: Option<usize>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    seed: Option<u64>,
    repeat_penalty: Option<f32>,
    stop: Option<Stop>,
    n: Option<usize>,
    // Taken as any JSON: what is refused is said by `refuse_unsupported`.
    tools: Option<Value>,
    functions: Option<Value>,
    tool_choice: Option<Value>,
    function_call: Option<Value>,
    response_format: Option<Value>,
    logprobs: Option<Value>,
    top_logprobs: Option<Value>,
    echo: Option<Value>,
    suffix: Option<Value>,
    best_of: Option<Value>,
}

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    content: Content,
}

/// A message's content: a string, or OpenAI's list of parts (only text parts).
#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

/// A completion's prompt: a string, or a list of them (of which one is served).
#[derive(Deserialize)]
#[serde(untagged)]
enum Prompt {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

/// Which endpoint a request came to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Chat,
    Completion,
}

/// What the model is given.
pub(super) enum Input {
    Messages(Vec<Message>),
    Prompt(String),
}

impl Fields for OpenAiRequest {
    fn expect(field: &str) -> Option<String> {
        Some(match field {
            "messages" => "a list of messages, each {\"role\": \"system\", \"user\" or \
                           \"assistant\", \"content\": a string or a list of text parts}"
                .into(),
            "prompt" => "a string (or a list of one string)".into(),
            "stream" => "true or false".into(),
            "max_tokens" | "max_completion_tokens" => {
                "a whole number from 1 to the server's --max-completion-tokens".into()
            }
            "temperature" => "a number from 0 to 2".into(),
            "top_p" => "a number above 0, at most 1".into(),
            "seed" => "a whole number from 0 to 2^64 - 1".into(),
            "repeat_penalty" => "a number above 0, at most 10 (1: off)".into(),
            "stop" => format!(
                "a string or a list of at most {MAX_STOPS}, each of 1 to {MAX_STOP_BYTES} bytes"
            ),
            "n" => "1 (one answer per request)".into(),
            "tools" | "functions" => "absent: this server's model calls no tools".into(),
            "tool_choice" | "function_call" => "absent, \"none\" or \"auto\"".into(),
            "response_format" => {
                "absent or {\"type\": \"text\"}: answers are plain text, no JSON mode".into()
            }
            "logprobs" | "top_logprobs" => "absent: log-probabilities are not returned".into(),
            "echo" => "absent or false: the prompt is not repeated".into(),
            "suffix" => "absent: text is not inserted, only continued".into(),
            "best_of" => "absent or 1".into(),
            _ => return None,
        })
    }
}

impl Content {
    fn text(self) -> Result<String, ApiError> {
        match self {
            Content::Text(t) => Ok(t),
            Content::Parts(parts) => parts
                .into_iter()
                .map(|p| match (p.kind.as_str(), p.text) {
                    ("text", Some(t)) => Ok(t),
                    (kind, _) => Err(ApiError::bad_request(format!(
                        "message parts of type `{kind}` are not supported; this model reads text"
                    ))
                    .with_param("messages")),
                })
                .collect(),
        }
    }
}

impl OpenAiRequest {
    /// What the model is given, for a request to `kind`'s endpoint.
    pub fn input(&mut self, kind: Kind) -> Result<Input, ApiError> {
        let (wanted, other, endpoint) = match kind {
            Kind::Chat => ("messages", "prompt", "/v1/completions"),
            Kind::Completion => ("prompt", "messages", "/v1/chat/completions"),
        };
        let given_other = match kind {
            Kind::Chat => self.prompt.is_some(),
            Kind::Completion => self.messages.is_some(),
        };
        if given_other {
            return Err(ApiError::bad_request(format!(
                "`{other}` is for {endpoint}; this endpoint takes `{wanted}`"
            ))
            .with_param(other));
        }
        let given = match kind {
            Kind::Chat => self.messages.take().map(messages),
            Kind::Completion => self.prompt.take().map(prompt),
        };
        given.unwrap_or_else(|| {
            let want = Self::expect(wanted).unwrap_or_default();
            Err(ApiError::bad_request(format!("give `{wanted}`: {want}")).with_param(wanted))
        })
    }

    /// Refuses what this server cannot do but a client would rely on.
    pub fn refuse_unsupported(&self) -> Result<(), ApiError> {
        let unset = |v: &Option<Value>| match v {
            None | Some(Value::Null) | Some(Value::Bool(false)) => true,
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        let is =
            |v: &Option<Value>, allowed: &[Value]| v.as_ref().is_none_or(|v| allowed.contains(v));
        let text = serde_json::json!({"type": "text"});
        let checks: [(&'static str, bool); 10] = [
            ("tools", unset(&self.tools)),
            ("functions", unset(&self.functions)),
            (
                "tool_choice",
                is(
                    &self.tool_choice,
                    &[Value::Null, "none".into(), "auto".into()],
                ),
            ),
            (
                "function_call",
                is(
                    &self.function_call,
                    &[Value::Null, "none".into(), "auto".into()],
                ),
            ),
            (
                "response_format",
                is(&self.response_format, &[Value::Null, text]),
            ),
            ("logprobs", unset(&self.logprobs)),
            (
                "top_logprobs",
                is(&self.top_logprobs, &[Value::Null, 0.into()]),
            ),
            ("echo", unset(&self.echo)),
            ("suffix", unset(&self.suffix)),
            ("best_of", is(&self.best_of, &[Value::Null, 1.into()])),
        ];
        match checks.into_iter().find(|(_, ok)| !ok) {
            None => Ok(()),
            Some((field, _)) => {
                let want = Self::expect(field).unwrap_or_default();
                Err(
                    ApiError::bad_request(format!("`{field}` is not supported: it must be {want}"))
                        .with_param(field),
                )
            }
        }
    }

    /// How to generate, checked against the server's limits.
    pub fn options(
        &self,
        max_completion_tokens: usize,
        deadline: Option<std::time::Duration>,
    ) -> Result<GenerateOptions, ApiError> {
        if self.n.unwrap_or(1) != 1 {
            return Err(Self::invalid("n", &self.n.unwrap_or(1)));
        }
        let limit = max_completion_tokens;
        let (field, max_tokens) = match (self.max_completion_tokens, self.max_tokens) {
            (Some(n), _) => ("max_completion_tokens", n),
            (None, Some(n)) => ("max_tokens", n),
            (None, None) => ("max_tokens", DEFAULT_MAX_TOKENS.min(limit)),
        };
        if max_tokens == 0 || max_tokens > limit {
            return Err(ApiError::bad_request(format!(
                "`{field}` must be 1 to {limit} (the server's --max-completion-tokens), not \
                 {max_tokens}"
            ))
            .with_param(field));
        }
        let temperature = self.temperature.unwrap_or(0.0);
        if !(0.0..=2.0).contains(&temperature) {
            return Err(Self::invalid("temperature", &temperature));
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(Self::invalid("top_p", &p));
            }
        }
        let repeat_penalty = self.repeat_penalty.unwrap_or(1.0);
        // 0 or less would flip or zero the logits it divides.
        if !(repeat_penalty > 0.0 && repeat_penalty <= 10.0) {
            return Err(Self::invalid("repeat_penalty", &repeat_penalty));
        }
        let stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        };
        // An empty stop string matches at once: an empty answer that looks finished.
        if stop.iter().any(String::is_empty) {
            return Err(
                ApiError::bad_request("`stop` strings must not be empty").with_param("stop")
            );
        }
        // OpenAI's bound; each is checked after every token, on the shared scheduler.
        if stop.len() > MAX_STOPS || stop.iter().any(|s| s.len() > MAX_STOP_BYTES) {
            return Err(ApiError::bad_request(format!(
                "`stop` takes at most {MAX_STOPS} strings of at most {MAX_STOP_BYTES} bytes"
            ))
            .with_param("stop"));
        }
        Ok(GenerateOptions {
            max_tokens,
            temperature,
            top_p: self.top_p,
            seed: self.seed.unwrap_or(GenerateOptions::default().seed),
            repeat_penalty,
            stop,
            deadline: deadline.map(|d| Instant::now() + d),
            ..GenerateOptions::default()
        })
    }
}

fn messages(given: Vec<ChatMessage>) -> Result<Input, ApiError> {
    if given.is_empty() {
        return Err(
            ApiError::bad_request("`messages` is empty: give at least one message")
                .with_param("messages"),
        );
    }
    let mut messages = Vec::with_capacity(given.len());
    for m in given {
        if !ROLES.contains(&m.role.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown message role `{}`: use system, user or assistant",
                m.role
            ))
            .with_param("messages"));
        }
        messages.push(Message::new(m.role, m.content.text()?));
    }
    Ok(Input::Messages(messages))
}

fn prompt(given: Prompt) -> Result<Input, ApiError> {
    let text = match given {
        Prompt::One(text) => text,
        Prompt::Many(mut list) if list.len() == 1 => list.remove(0),
        Prompt::Many(list) => {
            return Err(ApiError::bad_request(format!(
                "`prompt` lists {} prompts; this server answers one per request",
                list.len()
            ))
            .with_param("prompt"))
        }
    };
    if text.is_empty() {
        return Err(
            ApiError::bad_request("`prompt` is empty: give the text to continue")
                .with_param("prompt"),
        );
    }
    Ok(Input::Prompt(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::request::from_json;
    use crate::serve::request::tests::assert_no_rust;
    use serde_json::json;

    fn request(body: Value) -> Result<OpenAiRequest, ApiError> {
        from_json(body.to_string().as_bytes())
    }

    #[test]
    fn every_field_of_the_wrong_type_is_named() {
        // The fields the type has (it ignores unknown ones, so serde cannot list them).
        for field in [
            "messages",
            "prompt",
            "stream",
            "max_tokens",
            "max_completion_tokens",
            "temperature",
            "top_p",
            "seed",
            "repeat_penalty",
            "stop",
            "n",
        ] {
            let e = request(json!({ field: {"x": 1} })).err().unwrap();
            assert!(
                e.message.starts_with(&format!("`{field}` must be ")),
                "{}",
                e.message
            );
            assert_no_rust(&e.message);
        }
    }

    #[test]
    fn tools_and_formats_other_than_text_are_refused() {
        let refused = |body: Value| {
            let e = request(body).unwrap().refuse_unsupported().err().unwrap();
            (e.param.unwrap(), e.message)
        };
        let tool = json!([{"type": "function", "function": {"name": "f"}}]);
        let (param, message) = refused(json!({"tools": tool}));
        assert_eq!(param, "tools");
        assert!(message.contains("not supported"), "{message}");
        for (body, param) in [
            (
                json!({"response_format": {"type": "json_object"}}),
                "response_format",
            ),
            (
                json!({"response_format": {"type": "json_schema", "json_schema": {}}}),
                "response_format",
            ),
            (json!({"tool_choice": "required"}), "tool_choice"),
            (json!({"functions": [{"name": "f"}]}), "functions"),
            (json!({"logprobs": true}), "logprobs"),
            (json!({"logprobs": 3}), "logprobs"),
            (json!({"echo": true}), "echo"),
            (json!({"suffix": "end"}), "suffix"),
            (json!({"best_of": 3}), "best_of"),
        ] {
            assert_eq!(refused(body).0, param);
        }
        // What asks for nothing this server lacks passes.
        for body in [
            json!({}),
            json!({"response_format": {"type": "text"}}),
            json!({"tools": [], "tool_choice": "none"}),
            json!({"tools": null, "logprobs": false, "echo": false, "best_of": 1}),
        ] {
            assert!(
                request(body.clone()).unwrap().refuse_unsupported().is_ok(),
                "{body}"
            );
        }
    }

    #[test]
    fn each_endpoint_takes_its_own_input() {
        let mut r = request(json!({"prompt": "Once"})).unwrap();
        assert!(matches!(r.input(Kind::Completion), Ok(Input::Prompt(p)) if p == "Once"));
        let mut r = request(json!({"prompt": ["Once"]})).unwrap();
        assert!(matches!(r.input(Kind::Completion), Ok(Input::Prompt(_))));
        for (body, kind, want) in [
            (
                json!({"prompt": "x"}),
                Kind::Chat,
                "`prompt` is for /v1/completions",
            ),
            (
                json!({"messages": []}),
                Kind::Completion,
                "`messages` is for /v1/chat/completions",
            ),
            (json!({}), Kind::Completion, "give `prompt`"),
            (json!({}), Kind::Chat, "give `messages`"),
            (
                json!({"prompt": ["a", "b"]}),
                Kind::Completion,
                "one per request",
            ),
            (json!({"prompt": ""}), Kind::Completion, "`prompt` is empty"),
        ] {
            let e = request(body).unwrap().input(kind).err().unwrap();
            assert!(e.message.contains(want), "{}", e.message);
        }
    }
}
