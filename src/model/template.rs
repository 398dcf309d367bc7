//! Chat templates: turn a conversation into the exact prompt string a model was tuned on.
//!
//! Instruction-tuned GGUF files carry their Jinja chat template (`tokenizer.chat_template`).
//! Model authors write and test those templates against Hugging Face transformers, and
//! llama.cpp imitates it, so the environment here mirrors transformers' one (block
//! trimming, `raise_exception`, `strftime_now`, Python string methods, Python-style
//! `tojson` and printing): a prompt that differs by one byte tokenizes differently and
//! the model answers worse.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use candle_core::quantized::gguf_file;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, ErrorKind, Output, State};

use crate::error::{Error, Result};

const TEMPLATE_NAME: &str = "chat";

/// One turn of a conversation, in the shape chat templates expect (`role`, `content`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
    /// Byte offsets in `content` where the prompt may be cut for the prefix
    /// cache (e.g. after the instruction, after the article): the pieces are
    /// tokenized apart, so put them where tokenization splits anyway (a newline).
    #[serde(skip)]
    pub breaks: Vec<usize>,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
            breaks: Vec::new(),
        }
    }

    /// The same message with cache breaks at these byte offsets of its content.
    pub fn with_breaks(mut self, breaks: impl IntoIterator<Item = usize>) -> Self {
        let len = self.content.len();
        self.breaks = breaks
            .into_iter()
            .filter(|&b| b > 0 && b < len && self.content.is_char_boundary(b))
            .collect();
        self.breaks.sort_unstable();
        self.breaks.dedup();
        self
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

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
        let mut env = Environment::new();
        // transformers' settings; keep_trailing_newline stays false (the default).
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(python_formatter);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_template_owned(TEMPLATE_NAME, rewrite_generation_tags(source))
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

    /// The BOS text the template may already emit; callers must not add a second one.
    pub fn bos_token(&self) -> &str {
        &self.bos_token
    }

    pub fn eos_token(&self) -> &str {
        &self.eos_token
    }
}

/// Tags an error raised by the template itself, so its message reaches the user as is.
#[derive(Debug)]
struct Raised(String);

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

fn template_error(err: minijinja::Error) -> Error {
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        if let Some(raised) = e.downcast_ref::<Raised>() {
            return Error::Template(raised.0.clone());
        }
        source = e.source();
    }
    Error::Template(err.to_string())
}

/// `raise_exception(msg)`: how templates reject conversations they cannot format.
fn raise_exception(message: Value) -> std::result::Result<Value, minijinja::Error> {
    let message = message.to_string();
    Err(
        minijinja::Error::new(ErrorKind::InvalidOperation, message.clone())
            .with_source(Raised(message)),
    )
}

/// `strftime_now(fmt)`: templates such as Llama 3's put today's date in the system prompt.
fn strftime_now(format: &str) -> std::result::Result<String, minijinja::Error> {
    let mut out = String::new();
    write!(out, "{}", chrono::Local::now().format(format)).map_err(|_| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("strftime_now: invalid format {format:?}"),
        )
    })?;
    Ok(out)
}

/// transformers' `{% generation %}...{% endgeneration %}` only marks assistant text for
/// training masks and renders as its body; rewrite it into an `if true` block, keeping
/// the whitespace control, because minijinja has no custom tags.
fn rewrite_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(open) = rest.find("{%") {
        let after = &rest[open + 2..];
        let body = after.strip_prefix(['-', '+']).unwrap_or(after).trim_start();
        let word_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let replacement = match &body[..word_len] {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        match replacement {
            Some(replacement) => {
                let keyword = rest.len() - body.len();
                out.push_str(&rest[..keyword]);
                out.push_str(replacement);
                rest = &body[word_len..];
            }
            None => {
                out.push_str(&rest[..open + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Prints values as Python's `str()` does (`None`, `True`, `['a']`), like Jinja2.
fn python_formatter(
    out: &mut Output,
    state: &State,
    value: &Value,
) -> std::result::Result<(), minijinja::Error> {
    match value.kind() {
        ValueKind::None | ValueKind::Bool | ValueKind::Seq | ValueKind::Map => {
            out.write_str(&python_repr(value))?;
            Ok(())
        }
        ValueKind::Number if !value.is_integer() => {
            out.write_str(&python_repr(value))?;
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Python's `repr()` of a template value (strings quoted, as inside a printed list).
fn python_repr(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => "Undefined".into(),
        ValueKind::None => "None".into(),
        ValueKind::Bool if value.is_true() => "True".into(),
        ValueKind::Bool => "False".into(),
        ValueKind::Number if value.is_integer() => value.to_string(),
        ValueKind::Number => match f64::try_from(value.clone()) {
            Ok(f) if f.is_nan() => "nan".into(),
            Ok(f) if f.is_infinite() => if f > 0.0 { "inf" } else { "-inf" }.into(),
            Ok(f) => python_float(f),
            Err(_) => value.to_string(),
        },
        ValueKind::String => python_str_repr(value.as_str().unwrap_or_default()),
        ValueKind::Seq => {
            let items: Vec<String> = value
                .try_iter()
                .map(|it| it.map(|v| python_repr(&v)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let items: Vec<String> = value
                .try_iter()
                .map(|keys| {
                    keys.map(|k| {
                        let v = value.get_item(&k).unwrap_or_default();
                        format!("{}: {}", python_repr(&k), python_repr(&v))
                    })
                    .collect()
                })
                .unwrap_or_default();
            format!("{{{}}}", items.join(", "))
        }
        _ => value.to_string(),
    }
}

fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(float)` for a finite number: shortest round-trip digits, positional
/// for exponents in -4..16, else `1e+16` style.
fn python_float(f: f64) -> String {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let mut s = f.to_string();
        if !s.contains('.') {
            s.push_str(".0");
        }
        s
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// transformers' `tojson`: Python `json.dumps` (`ensure_ascii=False`, `", "` and `": "`
/// separators, optional `indent`/`sort_keys`/`separators`), not minijinja's HTML-safe one.
fn tojson(value: &Value, kwargs: Kwargs) -> std::result::Result<Value, minijinja::Error> {
    let indent = match kwargs.get::<Option<Value>>("indent")? {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => match (v.as_i64(), v.as_str()) {
            (Some(n), _) => Some(" ".repeat(usize::try_from(n).unwrap_or(0))),
            (None, Some(s)) => Some(s.to_owned()),
            _ => {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    "tojson: indent must be an integer or a string",
                ))
            }
        },
    };
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    let (item_sep, key_sep) = match separators.as_deref() {
        Some([item, key]) => (item.clone(), key.clone()),
        Some(_) => {
            return Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                "tojson: separators must be a pair",
            ))
        }
        None if indent.is_some() => (",".to_owned(), ": ".to_owned()),
        None => (", ".to_owned(), ": ".to_owned()),
    };
    let style = JsonStyle {
        indent,
        item_sep,
        key_sep,
        ensure_ascii: kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(false),
        sort_keys: kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&mut out, value, &style, 0)?;
    Ok(Value::from(out))
}

struct JsonStyle {
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    ensure_ascii: bool,
    sort_keys: bool,
}

impl JsonStyle {
    /// Before an item (or the closing bracket) at `depth`: newline and indentation.
    fn newline(&self, out: &mut String, depth: usize) {
        if let Some(indent) = &self.indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(indent);
            }
        }
    }
}

fn write_json(
    out: &mut String,
    value: &Value,
    style: &JsonStyle,
    depth: usize,
) -> std::result::Result<(), minijinja::Error> {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&json_number(value)),
        ValueKind::String => json_string(out, value.as_str().unwrap_or_default(), style),
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            if style.sort_keys {
                keys.sort_by_key(|k| k.to_string());
            }
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(&style.item_sep);
                }
                style.newline(out, depth + 1);
                json_key(out, key, style)?;
                out.push_str(&style.key_sep);
                write_json(out, &value.get_item(key)?, style, depth + 1)?;
            }
            style.newline(out, depth);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&style.item_sep);
                }
                style.newline(out, depth + 1);
                write_json(out, item, style, depth + 1)?;
            }
            style.newline(out, depth);
            out.push(']');
        }
        _ => {
            return Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: {} is not JSON serializable", value.kind()),
            ))
        }
    }
    Ok(())
}

fn json_number(value: &Value) -> String {
    if value.is_integer() {
        return value.to_string();
    }
    match f64::try_from(value.clone()) {
        Ok(f) if f.is_nan() => "NaN".into(),
        Ok(f) if f.is_infinite() => if f > 0.0 { "Infinity" } else { "-Infinity" }.into(),
        Ok(f) => python_float(f),
        Err(_) => value.to_string(),
    }
}

/// JSON object keys as Python converts them: strings as is, scalars to their JSON text.
fn json_key(
    out: &mut String,
    key: &Value,
    style: &JsonStyle,
) -> std::result::Result<(), minijinja::Error> {
    let text = match key.kind() {
        ValueKind::String => key.as_str().unwrap_or_default().to_owned(),
        ValueKind::None => "null".to_owned(),
        ValueKind::Bool => if key.is_true() { "true" } else { "false" }.to_owned(),
        ValueKind::Number => json_number(key),
        kind => {
            return Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: keys must be str, int, float, bool or None, not {kind}"),
            ))
        }
    };
    json_string(out, &text, style);
    Ok(())
}

fn json_string(out: &mut String, s: &str, style: &JsonStyle) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (style.ensure_ascii && (c as u32) > 0x7e) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, messages: &[Message]) -> Result<String> {
        ChatTemplate::new(source, "<s>", "</s>")?.render(messages, true)
    }

    fn chat() -> Vec<Message> {
        vec![Message::system(" Be brief. "), Message::user("Hi")]
    }

    #[test]
    fn raise_exception_surfaces_its_message() {
        let err = render("{{ raise_exception('no system role, please') }}", &chat()).unwrap_err();
        match err {
            Error::Template(msg) => assert_eq!(msg, "no system role, please"),
            other => panic!("expected a template error, got {other:?}"),
        }
    }

    #[test]
    fn strftime_now_formats_local_time() {
        let before = chrono::Local::now().format("%Y-%m-%d").to_string();
        let out = render("{{ strftime_now('%Y-%m-%d') }}", &[]).unwrap();
        let after = chrono::Local::now().format("%Y-%m-%d").to_string();
        assert!(out == before || out == after, "{out}");
    }

    #[test]
    fn strftime_now_rejects_bad_format() {
        let err = render("{{ strftime_now('%Q') }}", &[]).unwrap_err();
        assert!(err.to_string().contains("strftime_now"), "{err}");
    }

    #[test]
    fn python_methods_and_loop_variables() {
        let source = "{% for m in messages %}{{ m.role }}={{ m['content'].strip() }}\
                      {% if not loop.last %}|{% endif %}{% endfor %}\
                      {% if messages[0]['role'].startswith('sys') %}!{% endif %}";
        assert_eq!(
            render(source, &chat()).unwrap(),
            "system=Be brief.|user=Hi!"
        );
    }

    #[test]
    fn dict_items_method() {
        let source = "{% for k, v in messages[1].items() %}{{ k }}:{{ v }};{% endfor %}";
        // Field order, as Python's dict order.
        assert_eq!(render(source, &chat()).unwrap(), "role:user;content:Hi;");
    }

    #[test]
    fn broken_template_is_a_template_error() {
        let err = ChatTemplate::new("{% for m in messages %}{{ m.content }}", "", "").unwrap_err();
        assert!(matches!(err, Error::Template(_)), "{err:?}");
        let err = ChatTemplate::new("{{ messages[0] ", "", "").unwrap_err();
        assert!(matches!(err, Error::Template(_)), "{err:?}");
    }

    #[test]
    fn block_trimming_like_transformers() {
        let source = "{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}\n";
        assert_eq!(render(source, &chat()).unwrap(), "[Hi]\n");
    }

    #[test]
    fn undefined_and_none_like_jinja2() {
        let source = "{{ nothing }}|{% if tools is none %}none{% endif %}|{{ tools }}|{{ true }}|\
                      {{ [1, 'a', none] }}|{% for t in message_tools %}x{% endfor %}|\
                      {{ bos_token }}{{ eos_token }}";
        assert_eq!(
            render(source, &[]).unwrap(),
            "|none|None|True|[1, 'a', None]||<s></s>"
        );
    }

    #[test]
    fn tojson_matches_python_json_dumps() {
        // Map literals come out key-sorted (Python keeps insertion order): minijinja
        // needs its `preserve_order` feature for that.
        let source = r#"{{ {"name": "f", "args": [1, 2.5, true, none, "é<\n"]} | tojson }}"#;
        assert_eq!(
            render(source, &[]).unwrap(),
            r#"{"args": [1, 2.5, true, null, "é<\n"], "name": "f"}"#
        );
        let source = r#"{{ {"a": [1], "b": {}} | tojson(indent=2) }}"#;
        assert_eq!(
            render(source, &[]).unwrap(),
            "{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}"
        );
        let source =
            r#"{{ "é" | tojson(ensure_ascii=true) }}{{ [1, 2] | tojson(separators=[",", ":"]) }}"#;
        assert_eq!(render(source, &[]).unwrap(), r#""\u00e9"[1,2]"#);
    }

    #[test]
    fn python_float_repr() {
        assert_eq!(python_float(1.0), "1.0");
        assert_eq!(python_float(-0.0), "-0.0");
        assert_eq!(python_float(0.1), "0.1");
        assert_eq!(python_float(1e16), "1e+16");
        assert_eq!(python_float(1.5e-5), "1.5e-05");
        assert_eq!(python_float(123456.75), "123456.75");
    }

    #[test]
    fn generation_tags_render_their_body() {
        let source = "{% for m in messages %}{%- generation -%} {{ m.content }} {%- endgeneration %}{% endfor %}";
        assert_eq!(render(source, &chat()).unwrap(), " Be brief. Hi");
        assert_eq!(
            rewrite_generation_tags("{{ 'generation' }}"),
            "{{ 'generation' }}"
        );
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
