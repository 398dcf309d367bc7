//! transformers' Jinja environment in minijinja: model authors test their chat
//! templates against Hugging Face transformers (Jinja2 in Python), so a template must
//! render here as it does there, to the byte: block trimming, Python string and dict
//! methods, `raise_exception`, `strftime_now`, `{% generation %}`, Python's `str()`
//! when printing and `json.dumps` for `tojson`.

use std::fmt::{self, Write as _};

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, ErrorKind, Output, State};

/// An environment set up as transformers sets up Jinja2 for chat templates.
pub(super) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // transformers' settings; keep_trailing_newline stays false (the default).
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.set_formatter(python_formatter);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    env.add_filter("tojson", tojson);
    env
}

/// The message of an error the template raised itself (`raise_exception`), which
/// reaches the user as is.
pub(super) fn raised(err: &minijinja::Error) -> Option<String> {
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(raised) = e.downcast_ref::<Raised>() {
            return Some(raised.0.clone());
        }
        source = e.source();
    }
    None
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
pub(super) fn rewrite_generation_tags(source: &str) -> String {
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
    use super::super::tests::{chat, render};
    use super::*;
    use crate::error::Error;

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
}
