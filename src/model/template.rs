//! Chat templates: turn a conversation into the exact prompt string a model was tuned on.
//!
//! Instruction-tuned GGUF files carry their Jinja chat template (`tokenizer.chat_template`).
//! Model authors write and test those templates against Hugging Face transformers, and
//! llama.cpp imitates it, so templates render in an environment that mirrors
//! transformers' one (`pycompat`): a prompt that differs by one byte tokenizes
//! differently and the model answers worse.

mod pycompat;

use std::fmt;
use std::sync::Arc;

use candle_core::quantized::gguf_file;
use minijinja::value::Value;
use minijinja::Environment;

use super::Message;
use crate::error::{Error, Result};

const TEMPLATE_NAME: &str = "chat";

/// Private-use characters around a message's index stand in for its content while
/// the template renders; they never occur in template text.
const SENTINEL_OPEN: &str = "\u{f8f0}abridge-message-";
const SENTINEL_CLOSE: &str = "\u{f8f1}";

/// A piece of a rendered chat prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Written by the template: control tokens in it are real.
    Template(String),
    /// A message's content: data, tokenized with control tokens as plain text.
    Content(String),
    /// A place the prompt may be cut for the prefix cache (see [`Message::breaks`]).
    Break,
}

/// How prompts are written for a given model.
#[derive(Clone, Debug)]
pub enum PromptFormat {
    /// Instruction-tuned model: messages rendered through its chat template.
    Chat(ChatTemplate),
    /// Base model without a chat template: a plain text prompt the model continues.
    Completion,
}

impl PromptFormat {
    /// From GGUF metadata: `Chat` if `tokenizer.chat_template` is present (and not
    /// blank), else `Completion`.
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Self> {
        let metadata = &content.metadata;
        let Some(value) = metadata.get("tokenizer.chat_template") else {
            return Ok(PromptFormat::Completion);
        };
        let source = value
            .to_string()
            .map_err(|_| Error::Template("tokenizer.chat_template is not a string".into()))?;
        if source.trim().is_empty() {
            return Ok(PromptFormat::Completion);
        }
        let bos = special_token(metadata, "bos")?;
        let eos = special_token(metadata, "eos")?;
        Ok(PromptFormat::Chat(ChatTemplate::new(source, &bos, &eos)?))
    }
}

/// The text of `tokenizer.ggml.<which>_token_id`; empty when the model declares none
/// (as llama.cpp does), an error when the metadata is malformed.
fn special_token(
    metadata: &std::collections::HashMap<String, gguf_file::Value>,
    which: &str,
) -> Result<String> {
    let key = format!("tokenizer.ggml.{which}_token_id");
    let Some(id) = metadata.get(&key) else {
        return Ok(String::new());
    };
    let id = match id {
        gguf_file::Value::I32(v) => usize::try_from(*v).ok(),
        gguf_file::Value::I64(v) => usize::try_from(*v).ok(),
        v => v.to_u64().ok().and_then(|v| usize::try_from(v).ok()),
    };
    let token = metadata
        .get("tokenizer.ggml.tokens")
        .and_then(|tokens| tokens.to_vec().ok())
        .zip(id)
        .and_then(|(tokens, id)| tokens.get(id))
        .and_then(|token| token.to_string().ok());
    match token {
        Some(token) => Ok(token.clone()),
        None => Err(Error::Template(format!(
            "{key} does not name a token in tokenizer.ggml.tokens"
        ))),
    }
}

/// A compiled chat template plus the special tokens it may reference; cheap to clone
/// and shareable across threads.
#[derive(Clone)]
pub struct ChatTemplate {
    env: Arc<Environment<'static>>,
    /// The template as the model's metadata has it (what shapes outputs).
    source: Arc<str>,
    bos_token: String,
    eos_token: String,
}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles `source` once; fails if it does not parse.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self> {
        let mut env = pycompat::environment();
        env.add_template_owned(TEMPLATE_NAME, pycompat::rewrite_generation_tags(source))
            .map_err(template_error)?;
        Ok(ChatTemplate {
            env: Arc::new(env),
            source: source.into(),
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
        })
    }

    /// The template's text, as the model's metadata has it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the conversation; with `add_generation_prompt` the prompt ends where the
    /// assistant's answer begins.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(template_error)?;
        template
            .render(minijinja::context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
                // transformers passes None (not undefined): templates test `tools is not none`.
                tools => Value::from(()),
                documents => Value::from(()),
            })
            .map_err(template_error)
    }

    /// Renders the conversation as alternating template text and message contents, so
    /// that only the template's own text can become control tokens: a `<|im_end|>`
    /// written inside an article must stay text. Each content is swapped for a
    /// sentinel the template cannot produce, the result is cut at the sentinels, and
    /// a template that drops, repeats or rewrites a message is refused.
    pub fn render_segments(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<Vec<Segment>> {
        let sentinel = |i: usize| format!("{SENTINEL_OPEN}{i}{SENTINEL_CLOSE}");
        let stand_ins: Vec<Message> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| Message::new(m.role.clone(), sentinel(i)))
            .collect();
        let rendered = self.render(&stand_ins, add_generation_prompt)?;
        let mut segments = Vec::new();
        let mut rest = rendered.as_str();
        for (i, message) in messages.iter().enumerate() {
            let mark = sentinel(i);
            let Some((before, after)) = rest.split_once(&mark) else {
                return Err(Error::Template(format!(
                    "the chat template does not write message {} ({}) once, in order: \
                     abridge cannot keep its text apart from the template's control tokens",
                    i + 1,
                    message.role
                )));
            };
            segments.push(Segment::Template(before.to_string()));
            let mut from = 0;
            for &b in &message.breaks {
                segments.push(Segment::Content(message.content[from..b].to_string()));
                segments.push(Segment::Break);
                from = b;
            }
            segments.push(Segment::Content(message.content[from..].to_string()));
            rest = after;
        }
        segments.push(Segment::Template(rest.to_string()));
        if segments.iter().any(|s| match s {
            Segment::Template(t) => t.contains(SENTINEL_OPEN) || t.contains(SENTINEL_CLOSE),
            Segment::Content(_) | Segment::Break => false,
        }) {
            return Err(Error::Template(
                "the chat template repeats or alters message text: abridge cannot keep it \
                 apart from the template's control tokens"
                    .into(),
            ));
        }
        segments.retain(|s| !matches!(s, Segment::Template(t) if t.is_empty()));
        Ok(segments)
    }
}

fn template_error(err: minijinja::Error) -> Error {
    match pycompat::raised(&err) {
        Some(message) => Error::Template(message),
        None => Error::Template(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Also the Python compatibility tests' (`pycompat`).
    pub(super) fn render(source: &str, messages: &[Message]) -> Result<String> {
        ChatTemplate::new(source, "<s>", "</s>")?.render(messages, true)
    }

    pub(super) fn chat() -> Vec<Message> {
        vec![Message::system(" Be brief. "), Message::user("Hi")]
    }

    #[test]
    fn broken_template_is_a_template_error() {
        let err = ChatTemplate::new("{% for m in messages %}{{ m.content }}", "", "").unwrap_err();
        assert!(matches!(err, Error::Template(_)), "{err:?}");
        let err = ChatTemplate::new("{{ messages[0] ", "", "").unwrap_err();
        assert!(matches!(err, Error::Template(_)), "{err:?}");
    }

    /// Abridged from Llama 3.1/3.2 Instruct's template.
    const LLAMA3: &str = r#"{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"#;

    #[test]
    fn llama3_style_template() {
        let template = ChatTemplate::new(LLAMA3, "<|begin_of_text|>", "<|eot_id|>").unwrap();
        let before = chrono::Local::now().format("%d %b %Y").to_string();
        let out = template.render(&chat(), true).unwrap();
        let after = chrono::Local::now().format("%d %b %Y").to_string();
        let expected = |date: &str| {
            format!(
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n\
                 Cutting Knowledge Date: December 2023\nToday Date: {date}\n\n\
                 Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n\
                 Hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
            )
        };
        assert!(
            out == expected(&before) || out == expected(&after),
            "{out:?}"
        );
    }

    /// Gemma 3 Instruct's template (image branch abridged).
    const GEMMA3: &str = r#"{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"#;

    #[test]
    fn gemma_style_template() {
        let template = ChatTemplate::new(GEMMA3, "<bos>", "<eos>").unwrap();
        let messages = [
            Message::system("Be brief."),
            Message::user(" Hi "),
            Message::assistant("Hello."),
            Message::user("Bye"),
        ];
        assert_eq!(
            template.render(&messages, true).unwrap(),
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n\
             <start_of_turn>model\nHello.<end_of_turn>\n\
             <start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
        );
        assert_eq!(
            template.render(&messages[1..2], false).unwrap(),
            "<bos><start_of_turn>user\nHi<end_of_turn>\n"
        );
        let err = template
            .render(&[Message::user("a"), Message::user("b")], true)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "chat template: Conversation roles must alternate user/assistant/user/assistant/..."
        );
    }
}
