//! JSON Lines: one article per line, `{"text": ..., "title"?, "id"?, "url"?,
//! "lang"?}`. A bad line is rejected on its own; the others are still read.

use std::io::{BufRead, Cursor, Read};

use serde_json::{Map, Value};

use super::{
    binary, decode, empty, looks_binary, text, too_large, About, Article, Rejected, Source,
    MAX_ARTICLE_BYTES,
};
use crate::error::Error;

/// How much of the file [`looks_binary`] looks at.
const HEAD: usize = 8192;

/// The records of one JSON Lines file, read one line at a time: a file of any size
/// holds at most one line (itself at most [`MAX_ARTICLE_BYTES`]) in memory.
pub(super) struct Records<R> {
    src: Source,
    reader: std::io::Chain<Cursor<Vec<u8>>, R>,
    /// The line last read (1-based).
    line: usize,
    /// Whether a record was yielded, so that an empty file is refused once.
    any: bool,
    done: bool,
    /// A rejection of the whole file, yielded before anything else.
    refused: Option<Rejected>,
    /// The line last read, kept between lines: a feed of multi-MiB records then
    /// allocates its line buffer once instead of growing a new one per line.
    buf: Vec<u8>,
}

impl<R: BufRead> Records<R> {
    pub(super) fn new(src: &Source, mut reader: R) -> Self {
        let reject = |reason: String| Rejected {
            input: src.input(),
            id: src.id(),
            reason,
        };
        let mut head = Vec::with_capacity(HEAD);
        let mut refused = match reader.by_ref().take(HEAD as u64).read_to_end(&mut head) {
            Err(e) => Some(reject(Error::io(&src.path, e).to_string())),
            // JSON Lines is UTF-8; UTF-16's NUL bytes would read as binary.
            Ok(_) if head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff") => {
                Some(reject(format!(
                    "{} is UTF-16; JSON Lines must be UTF-8: convert it first, e.g. \
                     `iconv -f utf-16 -t utf-8`",
                    src.name()
                )))
            }
            // One rejection for a binary file, not one per "line" of it.
            Ok(_) if looks_binary(&head) => Some(reject(binary(&src.name()))),
            Ok(_) => None,
        };
        if head.starts_with(b"\xef\xbb\xbf") {
            head.drain(..3);
        }
        if refused.is_some() {
            head.clear();
        }
        Self {
            src: src.clone(),
            reader: Cursor::new(head).chain(reader),
            line: 0,
            any: false,
            done: false,
            refused: refused.take(),
            buf: Vec::new(),
        }
    }

    /// The next line without its `\n` (in `buf`), or its length alone when it is
    /// over `MAX_ARTICLE_BYTES` (the rest is read past, not kept); `None` at the end.
    fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        let kept = &mut self.buf;
        kept.clear();
        let (mut len, mut blank, mut newline) = (0usize, true, false);
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let (part, used) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], i + 1),
                None => (buf, buf.len()),
            };
            len += part.len();
            blank &= part.iter().all(u8::is_ascii_whitespace);
            // One byte over the limit is kept for a `\r` to strip.
            if len <= MAX_ARTICLE_BYTES + 1 {
                kept.extend_from_slice(part);
            }
            newline = used > part.len();
            self.reader.consume(used);
            if newline {
                break;
            }
        }
        if len == 0 && !newline {
            return Ok(None);
        }
        if blank {
            return Ok(Some(Line::Blank));
        }
        if kept.len() == len {
            if kept.last() == Some(&b'\r') {
                kept.pop();
            }
            if kept.len() <= MAX_ARTICLE_BYTES {
                return Ok(Some(Line::Text));
            }
        }
        Ok(Some(Line::Oversized(len)))
    }
}

enum Line {
    Blank,
    /// In `Records::buf`.
    Text,
    Oversized(usize),
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = Result<Article, Rejected>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(refused) = self.refused.take() {
            self.done = true;
            return Some(Err(refused));
        }
        while !self.done {
            let line = self.next_line();
            self.line += 1;
            let n = self.line;
            let record = match line {
                Ok(Some(Line::Blank)) => continue,
                Ok(Some(Line::Text)) => record(&self.src, n, &self.buf),
                Ok(Some(Line::Oversized(len))) => {
                    let name = format!("{}:{n}", self.src.name());
                    let reason = too_large(&name, len, MAX_ARTICLE_BYTES, "articles");
                    Err(Rejected {
                        input: format!("{}:{n}", self.src.input()),
                        id: format!("{}-{n}", self.src.id()),
                        reason: reason.to_string(),
                    })
                }
                Ok(None) => {
                    self.done = true;
                    if self.any {
                        return None;
                    }
                    Err(Rejected {
                        input: self.src.input(),
                        id: self.src.id(),
                        reason: empty(&self.src.name()),
                    })
                }
                // The lines before were read; the rest of the file cannot be.
                Err(e) => {
                    self.done = true;
                    Err(Rejected {
                        input: self.src.input(),
                        id: self.src.id(),
                        reason: format!("{} (after line {})", Error::io(&self.src.path, e), n - 1),
                    })
                }
            };
            self.any = true;
            return Some(record);
        }
        None
    }
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
    let (json, encoding, mut warnings) =
        decode(&name, line, None).map_err(|reason| reject(&id, reason))?;
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
        // Integers only: serde_json reads larger ones as floats, and two ids
        // rounded to the same float would share an output.
        Some(Value::Number(n)) if key == "id" && (n.is_u64() || n.is_i64()) => Some(n.to_string()),
        Some(_) => {
            let what = if key == "id" {
                "a string or an integer"
            } else {
                "a string"
            };
            warnings.push(format!("{name}: \"{key}\" is not {what}; ignored"));
            None
        }
    };
    if let Some(given) = field("id") {
        id = given;
    }
    let title = field("title");
    let text = text_field(&object).map_err(|why| reject(&id, format!("{name}: {why}")))?;
    let about = About {
        url: field("url"),
        lang: super::language(field("lang"), &text),
        published: field("date").or_else(|| field("published")),
        author: field("author"),
        site: field("site"),
    };
    Ok(Article {
        source: name,
        input,
        title: title.unwrap_or_else(|| text::title(&text)),
        id,
        text,
        about,
        format: src.format,
        encoding: encoding.name(),
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
            (a.about.url.as_deref(), a.about.lang.as_deref()),
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
            (a.id.as_str(), a.title.as_str(), a.about.url.as_deref()),
            ("42", "Numbered.", None)
        );
        assert_eq!(a.warnings.len(), 1, "{:?}", a.warnings);
        assert!(a.warnings[0].contains("\"title\" is not a string"));

        let r = results[7].as_ref().unwrap_err();
        assert!(r.reason.contains("\"text\" is not a string"), "{r}");
    }

    /// Ids past 64 bits would be read as floats, and two of them could round to one.
    #[test]
    fn ids_are_strings_or_exact_integers() {
        let feed = "{\"id\": 12345678901234567890123, \"text\": \"A.\"}\n\
                    {\"id\": 12345678901234567890124, \"text\": \"B.\"}\n\
                    {\"id\": -7, \"text\": \"C.\"}\n{\"id\": 1.5, \"text\": \"D.\"}\n";
        let (_, results) = read_all("feed.jsonl", Format::Jsonl, feed.as_bytes());
        let ids: Vec<&str> = results
            .iter()
            .map(|r| r.as_ref().unwrap().id.as_str())
            .collect();
        assert_eq!(ids, ["feed-1", "feed-2", "-7", "feed-4"]);
        let a = results[0].as_ref().unwrap();
        assert!(
            a.warnings[0].contains("\"id\" is not a string or an integer"),
            "{a:?}"
        );
    }

    #[test]
    fn a_utf16_feed_is_refused_by_its_encoding() {
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain(
                "{\"text\": \"A.\"}\n"
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes),
            )
            .collect();
        let (_, results) = read_all("feed.jsonl", Format::Jsonl, &utf16);
        let r = results[0].as_ref().unwrap_err();
        assert!(
            r.reason.contains("UTF-16") && r.reason.contains("iconv"),
            "{r}"
        );
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

    /// Lines split across reads (a buffer of a few bytes) give the same records.
    #[test]
    fn small_buffers_give_the_same_records() {
        let feed = concat!(
            "\u{feff}{\"id\": \"a\", \"text\": \"One.\"}\r\n",
            "   \r\n",
            "{\"text\": \"oops\"\n",
            "\n",
            "{\"text\": \"Two.\", \"title\": \"T\"}",
        );
        let src = Source {
            path: "f.jsonl".into(),
            format: super::super::Format::Jsonl,
        };
        let whole: Vec<_> = Records::new(&src, feed.as_bytes()).collect();
        assert_eq!(whole.len(), 3, "{whole:?}");
        for capacity in 1..=9 {
            let reader = std::io::BufReader::with_capacity(capacity, feed.as_bytes());
            let streamed: Vec<_> = Records::new(&src, reader).collect();
            assert_eq!(streamed, whole, "capacity {capacity}");
        }
    }

    /// A JSON Lines feed made as it is read, counting the bytes handed out: `lines`
    /// good articles of about `size` bytes each, but line `BAD` is not JSON and line
    /// `OVER` is over the article limit.
    struct Feed {
        lines: usize,
        size: usize,
        next: usize,
        pending: Vec<u8>,
        at: usize,
        read: std::rc::Rc<std::cell::Cell<usize>>,
    }

    const BAD: usize = 20;
    const OVER: usize = 30;

    impl Feed {
        fn line(&self, i: usize) -> Vec<u8> {
            match i {
                BAD => b"{\"text\": oops}\n".to_vec(),
                OVER => format!("{{\"text\": \"{}\"}}\n", "a".repeat(MAX_ARTICLE_BYTES)).into(),
                _ => {
                    let text = format!("Story {i} begins. ")
                        + &"Rain fell on the town. ".repeat(self.size / 23);
                    format!("{{\"id\": \"n{i}\", \"text\": \"{text}\"}}\n").into()
                }
            }
        }
    }

    impl Read for Feed {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.at == self.pending.len() {
                if self.next == self.lines {
                    return Ok(0);
                }
                self.pending = self.line(self.next);
                self.at = 0;
                self.next += 1;
            }
            let n = buf.len().min(self.pending.len() - self.at);
            buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
            self.at += n;
            self.read.set(self.read.get() + n);
            Ok(n)
        }
    }

    /// A feed larger than any file the reader once accepted (256 MiB), with a bad line
    /// and an oversized one in the middle: every record comes out in order, each read
    /// having consumed no more than the lines up to it and a buffer, so what is held
    /// at once is one line, not the file.
    #[test]
    fn huge_feed_is_read_one_line_at_a_time() {
        let read = std::rc::Rc::new(std::cell::Cell::new(0));
        let feed = Feed {
            lines: 40,
            size: 7 << 20,
            next: 0,
            pending: Vec::new(),
            at: 0,
            read: read.clone(),
        };
        let lens: Vec<usize> = (0..feed.lines).map(|i| feed.line(i).len()).collect();
        let total: usize = lens.iter().sum();
        assert!(total > 256 << 20, "{total}");
        let src = Source {
            path: "big.jsonl".into(),
            format: super::super::Format::Jsonl,
        };
        let records = Records::new(&src, std::io::BufReader::new(feed));
        let mut seen = 0;
        for (i, record) in records.enumerate() {
            let upto: usize = lens[..=i].iter().sum();
            assert!(
                read.get() <= upto + 2 * HEAD,
                "record {i}: {} bytes read, lines up to it are {upto}",
                read.get()
            );
            let n = i + 1;
            match (i, record) {
                (BAD, Err(r)) => assert!(
                    r.reason.contains(&format!("big.jsonl:{n}: invalid JSON")),
                    "{r}"
                ),
                (OVER, Err(r)) => assert!(
                    r.reason.contains("refused") && r.input == format!("big.jsonl:{n}"),
                    "{r}"
                ),
                (_, Ok(a)) => {
                    assert_eq!(a.id, format!("n{i}"));
                    assert!(
                        a.title.starts_with(&format!("Story {i} begins.")),
                        "{}",
                        a.title
                    );
                    assert!(a.text.len() > 7_000_000, "{}", a.text.len());
                }
                (_, other) => panic!("record {i}: {:?}", other.map(|a| a.id)),
            }
            seen += 1;
        }
        assert_eq!((seen, read.get()), (lens.len(), total));
    }
}
