//! JSON Lines: one article per line, `{"text": ..., "title"?, "id"?, "url"?,
//! "lang"?}`. A bad line is rejected on its own; the others are still read.

use serde_json::{Map, Value};

use super::{
    binary, decode, empty, looks_binary, text, too_large, Article, Rejected, Source,
    MAX_ARTICLE_BYTES,
};

pub(super) fn read(src: &Source, bytes: &[u8]) -> Vec<Result<Article, Rejected>> {
    // One rejection for a binary file, not one per "line" of it.
    if looks_binary(bytes) {
        return vec![Err(Rejected {
            input: src.input(),
            id: src.id(),
            reason: binary(&src.name()),
        })];
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let results: Vec<_> = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(i, line)| record(src, i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .collect();
    if results.is_empty() {
        return vec![Err(Rejected {
            input: src.input(),
            id: src.id(),
            reason: empty(&src.name()),
        })];
    }
    results
}

/// The article on line `n` (1-based) of `src`.
fn record(src: &Source, n: usize, line: &[u8]) -> Result<Article, Rejected> {
    let name = format!("{}:{n}", src.name());
    let input = format!("{}:{n}", src.input());
    let mut id = format!("{}-{n}", src.id());
    let reject = |id: &str, reason: String| Rejected {
        input: input.clone(),
        id: id.to_string(),
        reason,
    };
    if line.len() > MAX_ARTICLE_BYTES {
        let reason = too_large(&name, line.len(), MAX_ARTICLE_BYTES, "articles");
        return Err(reject(&id, reason.to_string()));
    }
    let (json, mut warnings) = decode(&name, line, None).map_err(|reason| reject(&id, reason))?;
    let object = match serde_json::from_str(&json) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(reject(&id, format!("{name}: not a JSON object"))),
        Err(e) => return Err(reject(&id, format!("{name}: invalid JSON: {e}"))),
    };
    // Optional strings (the id may be a number too); anything else is ignored
    // with a warning rather than losing the article.
    let mut field = |key: &str| match object.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(text::collapse(s)).filter(|s| !s.is_empty()),
        Some(Value::Number(n)) if key == "id" => Some(n.to_string()),
        Some(_) => {
            warnings.push(format!("{name}: \"{key}\" is not a string; ignored"));
            None
        }
    };
    if let Some(given) = field("id") {
        id = given;
    }
    let (title, url, lang) = (field("title"), field("url"), field("lang"));
    let text = text_field(&object).map_err(|why| reject(&id, format!("{name}: {why}")))?;
    Ok(Article {
        source: name,
        input,
        title: title.unwrap_or_else(|| text::title(&text)),
        id,
        text,
        url,
        lang,
        input_sha256: text::sha256_hex(line),
        warnings,
    })
}

fn text_field(object: &Map<String, Value>) -> Result<String, &'static str> {
    match object.get("text") {
        Some(Value::String(s)) => Some(text::normalize(s))
            .filter(|t| !t.is_empty())
            .ok_or("\"text\" is empty: no text to summarize"),
        Some(_) => Err("\"text\" is not a string"),
        None => Err("no \"text\" field"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        tests::{read_all, read_one},
        Format,
    };
    use super::*;

    #[test]
    fn good_and_bad_lines() {
        let feed = concat!(
            "\u{feff}{\"id\": \"rail-1\", \"title\": \"Rail  strike ends\", \"text\": \"Trains run.\\r\\n\\r\\n\\r\\nFares hold.\", \"url\": \"https://x.org/r\", \"lang\": \"en\"}\r\n",
            "\n",
            "{\"text\": \"Rain is expected across the north on Thursday. Forecasters urged caution on roads.\"}\n",
            "{\"text\": \"oops\"\n",
            "   \n",
            "{\"title\": \"No text\"}\n",
            "{\"text\": \"  \\n \"}\n",
            "[1, 2]\n",
            "{\"id\": 42, \"text\": \"Numbered.\", \"title\": [\"x\"], \"url\": null}\n",
            "{\"text\": 7}",
        );
        let (input, results) = read_all("feed.jsonl", Format::Jsonl, feed.as_bytes());
        let at = |n: usize| format!("{input}:{n}");
        assert_eq!(results.len(), 8, "{results:#?}");

        let a = results[0].as_ref().unwrap();
        assert_eq!(
            (a.id.as_str(), a.title.as_str()),
            ("rail-1", "Rail strike ends")
        );
        assert_eq!(a.text, "Trains run.\n\nFares hold.");
        assert_eq!(
            (a.url.as_deref(), a.lang.as_deref()),
            (Some("https://x.org/r"), Some("en"))
        );
        assert_eq!(a.input, at(1));
        let line1 = feed.lines().next().unwrap().trim_start_matches('\u{feff}');
        assert_eq!(a.input_sha256, text::sha256_hex(line1.as_bytes()));

        let a = results[1].as_ref().unwrap();
        assert_eq!(
            (a.id.as_str(), a.input.as_str()),
            ("feed-3", at(3).as_str())
        );
        assert_eq!(a.title, "Rain is expected across the north on Thursday.");

        let rejected = [
            (4, "invalid JSON"),
            (6, "no \"text\" field"),
            (7, "\"text\" is empty"),
            (8, "not a JSON object"),
        ];
        for (r, (n, why)) in results[2..6].iter().zip(rejected) {
            let r = r.as_ref().unwrap_err();
            assert_eq!(
                (r.input.clone(), r.id.clone()),
                (at(n), format!("feed-{n}"))
            );
            assert!(
                r.reason.contains(why) && r.reason.contains(&format!("feed.jsonl:{n}")),
                "{r}"
            );
        }

        let a = results[6].as_ref().unwrap();
        assert_eq!(
            (a.id.as_str(), a.title.as_str(), a.url.as_deref()),
            ("42", "Numbered.", None)
        );
        assert_eq!(a.warnings.len(), 1, "{:?}", a.warnings);
        assert!(a.warnings[0].contains("\"title\" is not a string"));

        let r = results[7].as_ref().unwrap_err();
        assert!(r.reason.contains("\"text\" is not a string"), "{r}");
    }

    #[test]
    fn latin1_line_binary_file_and_empty_file() {
        let a = read_one("old.jsonl", Format::Jsonl, b"{\"text\": \"caf\xe9\"}").unwrap();
        assert_eq!(a.text, "café");
        assert!(a.warnings[0].contains("old.jsonl:1") && a.warnings[0].contains("windows-1252"));

        let r = read_one(
            "blob.jsonl",
            Format::Jsonl,
            b"{\"text\": \"a\"}\n\x00\x01\x02",
        )
        .unwrap_err();
        assert!(
            r.reason.contains("binary") && r.input.ends_with("blob.jsonl"),
            "{r}"
        );

        let r = read_one("none.jsonl", Format::Jsonl, b"\n \r\n").unwrap_err();
        assert!(r.reason.contains("none.jsonl is empty"), "{r}");
    }

    #[test]
    fn oversized_line_is_rejected_alone() {
        let mut feed = format!("{{\"text\": \"{}\"}}\n", "a".repeat(MAX_ARTICLE_BYTES));
        feed.push_str("{\"text\": \"small\"}\n");
        let (_, results) = read_all("big.jsonl", Format::Jsonl, feed.as_bytes());
        assert!(results[0].as_ref().unwrap_err().reason.contains("refused"));
        assert_eq!(results[1].as_ref().unwrap().text, "small");
    }
}
