//! Sentences of a text: what the chunker packs, the checks number and cite, and
//! summaries and translations are counted and compared in.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

/// One sentence of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    /// Byte range in the text, without the whitespace around it.
    pub range: Range<usize>,
    /// First sentence of the text or after a blank line.
    pub starts_paragraph: bool,
}

impl Sentence {
    pub fn text<'a>(&self, text: &'a str) -> &'a str {
        &text[self.range.clone()]
    }
}

/// Words that end with a period without ending the sentence, compared without the
/// period and ignoring ASCII case. Dotted initials (`U.S.`, `J.`) are recognized apart;
/// `No.` only before a number (`No. 10`). `v` is the lowercase one of case names
/// ("Roe v. Wade"), which the initials rule does not take.
const ABBREVIATIONS: &[&str] = &[
    "Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Jr", "Sr", "Inc", "Ltd", "Co", "Corp", "e.g", "i.e",
    "etc", "vs", "v", "Gen", "Gov", "Sen", "Rep", "Lt", "Col", "Capt", "Sgt", "Rev", "Jan", "Feb",
    "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
];

/// The sentences of `text`: UAX #29 sentence boundaries, except after abbreviations
/// and initials; a blank line always ends a sentence. Splitting too little is the safe
/// side for chunking, so an abbreviation that really ends a sentence ("... in the U.S.
/// The ...") joins it to the next one.
pub fn sentences(text: &str) -> Vec<Sentence> {
    let mut out = Vec::new();
    for para in paragraphs(text) {
        // UAX #29 breaks at every line break; inside a paragraph they are hard wrapping,
        // so segment a copy where they are spaces (same byte offsets).
        let flat = text[para.clone()].replace(['\n', '\r'], " ");
        let mut ranges: Vec<Range<usize>> = Vec::new();
        for (at, seg) in flat.split_sentence_bound_indices() {
            let start = at + seg.len() - seg.trim_start().len();
            let end = at + seg.trim_end().len();
            if start >= end {
                continue;
            }
            match ranges.last_mut() {
                Some(prev) if continues(&flat[prev.clone()], &flat[start..end]) => prev.end = end,
                _ => ranges.push(start..end),
            }
        }
        out.extend(ranges.into_iter().enumerate().map(|(i, r)| Sentence {
            range: para.start + r.start..para.start + r.end,
            starts_paragraph: i == 0,
        }));
    }
    out
}

/// Byte ranges of the paragraphs: runs of lines that are not blank.
fn paragraphs(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut current: Option<Range<usize>> = None;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let range = at..at + line.len();
        at = range.end;
        if line.trim().is_empty() {
            out.extend(current.take());
        } else {
            current = Some(current.map_or(range.clone(), |c| c.start..range.end));
        }
    }
    out.extend(current);
    out
}

/// Whether UAX #29 broke `prev` from `next` after an abbreviation or an initial rather
/// than at the end of a sentence.
fn continues(prev: &str, next: &str) -> bool {
    let Some(word) = prev
        .strip_suffix('.')
        .and_then(|p| p.rsplit(char::is_whitespace).next())
    else {
        return false;
    };
    let word = word.trim_start_matches(|c: char| !c.is_alphanumeric());
    if word.eq_ignore_ascii_case("no") {
        return next.starts_with(|c: char| c.is_ascii_digit());
    }
    ABBREVIATIONS.iter().any(|a| a.eq_ignore_ascii_case(word)) || is_initials(word)
}

/// `J`, `U.S`, `J.R.R` (the final period stripped); not `I`, which ends sentences.
fn is_initials(word: &str) -> bool {
    word != "I"
        && word.split('.').all(|part| {
            let mut chars = part.chars();
            matches!((chars.next(), chars.next()), (Some(c), None) if c.is_uppercase())
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split(text: &str) -> Vec<&str> {
        sentences(text).iter().map(|s| s.text(text)).collect()
    }

    #[test]
    fn abbreviations_do_not_end_sentences() {
        let text = "Mr. Smith met Dr. Jones and Prof. Lee at St. Mary's. Acme Inc. and \
                    Foo Ltd. sued Bar Co. and Baz Corp. in the U.S. and the U.K. on Jan. 5. \
                    Gen. Ray, Gov. Poe, Sen. Kay and Rep. Day came, e.g. Them. Fruit, etc. \
                    Are fine. It was Smith vs. Jones. Roe v. Wade stands. He lives at No. 10 now. He said no. Then left.";
        assert_eq!(
            split(text),
            [
                "Mr. Smith met Dr. Jones and Prof. Lee at St. Mary's.",
                "Acme Inc. and Foo Ltd. sued Bar Co. and Baz Corp. in the U.S. and the U.K. on \
                 Jan. 5.",
                "Gen. Ray, Gov. Poe, Sen. Kay and Rep. Day came, e.g. Them.",
                "Fruit, etc. Are fine.",
                "It was Smith vs. Jones.",
                "Roe v. Wade stands.",
                "He lives at No. 10 now.",
                "He said no.",
                "Then left.",
            ]
        );
    }
    #[test]
    fn initials_do_not_end_sentences_but_i_does() {
        assert_eq!(
            split("J. R. R. Tolkien wrote it. So did I. Then J.R.R. Martin did."),
            [
                "J. R. R. Tolkien wrote it.",
                "So did I.",
                "Then J.R.R. Martin did."
            ]
        );
    }
    #[test]
    fn decimals_do_not_end_sentences() {
        assert_eq!(
            split("Growth was 3.5 percent. It cost $1.25 billion, up 0.7. Prices rose."),
            [
                "Growth was 3.5 percent.",
                "It cost $1.25 billion, up 0.7.",
                "Prices rose."
            ]
        );
    }
    #[test]
    fn blank_lines_end_sentences_and_single_line_breaks_do_not() {
        let text =
            "Headline Without Period\n\nFirst line of a\nwrapped sentence. Next one.\r\n \r\n\
                    Last paragraph";
        let found = sentences(text);
        let texts: Vec<_> = found.iter().map(|s| s.text(text)).collect();
        assert_eq!(
            texts,
            [
                "Headline Without Period",
                "First line of a\nwrapped sentence.",
                "Next one.",
                "Last paragraph"
            ]
        );
        let starts: Vec<_> = found.iter().map(|s| s.starts_paragraph).collect();
        assert_eq!(starts, [true, true, false, true]);
    }
    #[test]
    fn quotes_stay_with_their_sentence() {
        assert_eq!(split("\"Yes.\" He left."), ["\"Yes.\"", "He left."]);
        assert_eq!(
            split("“Russia is concerned,” Demir said. (It was late.) Then?"),
            [
                "“Russia is concerned,” Demir said.",
                "(It was late.)",
                "Then?"
            ]
        );
    }
    #[test]
    fn segments_other_languages() {
        assert_eq!(split("你好。世界很大！"), ["你好。", "世界很大！"]);
        assert_eq!(
            split("Привет. Как дела? Хорошо."),
            ["Привет.", "Как дела?", "Хорошо."]
        );
        assert_eq!(
            split("Dr. Müller kam. ¿Qué pasa? Ça va."),
            ["Dr. Müller kam.", "¿Qué pasa?", "Ça va."]
        );
    }
    #[test]
    fn sentence_ranges_are_trimmed_slices_of_the_text() {
        let text = "  One.   Two!\n\n\n  Three?  ";
        let found = sentences(text);
        let ranges: Vec<_> = found.iter().map(|s| s.range.clone()).collect();
        assert_eq!(ranges, [2..6, 9..13, 18..24]);
    }
    #[test]
    fn blank_text_has_no_sentences() {
        assert!(sentences("").is_empty());
        assert!(sentences(" \n\n\t \r\n").is_empty());
    }

    /// Articles for property tests (also the chunker's): words, abbreviations,
    /// decimals, long and non-ASCII words, punctuation, spaces and line breaks.
    pub(crate) fn article() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            8 => "[a-zA-Z]{1,9}",
            1 => prop::sample::select(vec!["Mr.", "U.S.", "3.14", "J.", "etc.", "No.", "\"Yes.\""])
                .prop_map(String::from),
            1 => "[a-z]{20,70}",
            1 => "[éü日本語ßЖ]{1,6}",
            1 => "[.!?,;:\"()-]",
        ];
        let sep = prop::sample::select(vec![
            " ", " ", " ", " ", ". ", "? ", "! ", "\n", "\n\n", " \n \n ", "\r\n\r\n", "  ",
        ]);
        prop::collection::vec((word, sep), 0..150)
            .prop_map(|parts| parts.into_iter().map(|(w, s)| w + s).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn prop_sentences_are_trimmed_and_in_order(text in article()) {
            let mut at = 0;
            for s in sentences(&text) {
                let t = s.text(&text);
                prop_assert!(!t.is_empty() && t.trim() == t);
                prop_assert!(s.range.start >= at && text[at..s.range.start].trim().is_empty());
                at = s.range.end;
            }
            prop_assert!(text[at..].trim().is_empty());
        }
    }
}
