//! Numbers scaled by a word ("12.9 billion", "$3bn", "12,9 milliards"), and
//! translations that keep a number's digits but change its size. The words are false
//! friends across languages: Spanish "billón" and French or German "billion" are
//! 10^12, the English billion is 10^9, so "$12.9bn" written "12,9 billones" keeps
//! every digit and is a thousand times off.
//!
//! The words come from Unicode CLDR's compact decimal formats, generated into
//! `names/magnitudes.tsv` by `scripts/gen-magnitudes.py` (called by
//! `scripts/gen-names.sh`).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::terms::{fold, glues, is_space, number_spans};

const TABLE: &str = include_str!("names/magnitudes.tsv");

/// English newsroom abbreviations no data source lists: CLDR's short English forms
/// are "M", "B" and "T", newspapers write "$5m", "£3bn", "$2tn".
const NEWSROOM: [(&str, u32); 5] = [("m", 6), ("mn", 6), ("bn", 9), ("tn", 12), ("trn", 12)];

/// A newsroom abbreviation that is also a unit: "m" is a million only after a
/// currency sign ("$5m"); "the 100m final" is metres.
const AFTER_CURRENCY_ONLY: &str = "m";

/// The most words a magnitude is written in ("mil millones", "mille miliardi").
const MOST_WORDS: usize = 3;

/// A number followed by a word that scales it.
#[derive(Clone, Debug, PartialEq)]
pub struct Scaled {
    /// The number's digits, as [`number_spans`] reads them.
    pub digits: String,
    /// The power of ten the word stands for.
    pub power: u32,
    /// The word as the text writes it.
    pub word: String,
    /// The number and its word as the text writes them.
    pub written: String,
    /// Where the number starts, in chars.
    pub(super) at: usize,
    /// The amount's value as significant digits times a power of ten ("12.9
    /// billion" and Japanese "129億" are both 129 x 10^8).
    value: (String, i32),
}

/// `digits` as written in `number` (its decimals read from the last separator:
/// followed by other than three digits, it is a decimal mark), times 10^`power`,
/// as significant digits and an exponent.
fn value(digits: &str, number: &[char], power: u32) -> (String, i32) {
    let decimals = number
        .iter()
        .rposition(|c| matches!(c, '.' | ',' | '\'' | '\u{2019}'))
        .map(|i| {
            number[i + 1..]
                .iter()
                .filter(|c| c.is_ascii_digit())
                .count()
        })
        .filter(|&n| n != 3)
        .unwrap_or(0);
    let significant = digits.trim_end_matches('0');
    let zeros = digits.len() - significant.len();
    let exponent = power as i32 - decimals as i32 + zeros as i32;
    (significant.trim_start_matches('0').to_string(), exponent)
}

/// One language's magnitude words.
#[derive(Default)]
struct Words {
    /// Each word, folded, with its power.
    powers: HashMap<String, u32>,
    /// The word to write for each power, as CLDR writes it.
    write: HashMap<u32, &'static str>,
}

fn words(lang: &str) -> &'static Words {
    static TABLES: OnceLock<HashMap<&'static str, Words>> = OnceLock::new();
    static NONE: OnceLock<Words> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        let mut tables: HashMap<&'static str, Words> = HashMap::new();
        for line in TABLE.lines().skip(1) {
            let cells: Vec<&'static str> = line.split('\t').collect();
            let [lang, power, word, usage] = cells[..] else {
                continue;
            };
            let Ok(power) = power.parse() else { continue };
            let words = tables.entry(lang).or_default();
            words.powers.insert(fold(word), power);
            if usage == "write" {
                words.write.insert(power, word);
            }
        }
        let english = tables.entry("en").or_default();
        for (word, power) in NEWSROOM {
            english.powers.insert(word.to_string(), power);
        }
        tables
    });
    tables
        .get(lang)
        .unwrap_or_else(|| NONE.get_or_init(Words::default))
}

/// The numbers of `text` that a magnitude word of `lang` scales, written glued
/// ("12.9bn") or after a space ("12,9 milliards", "12,9 mil millones").
pub fn scaled(text: &str, lang: &str) -> Vec<Scaled> {
    let table = &words(lang).powers;
    if table.is_empty() {
        return Vec::new();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    for (digits, span) in number_spans(&chars) {
        if digits.contains(':') {
            continue;
        }
        // The words after the number, each as a range of `chars`.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut at = span.end;
        while runs.len() < MOST_WORDS {
            let start = at + chars[at..].iter().take_while(|c| is_space(**c)).count();
            if start == at && !runs.is_empty() {
                break;
            }
            let end = start + chars[start..].iter().take_while(|c| in_word(**c)).count();
            if end == start {
                break;
            }
            runs.push((start, end));
            at = end;
        }
        let found = (1..=runs.len()).rev().find_map(|n| {
            let end = runs[n - 1].1;
            let phrase: String = chars[runs[0].0..end].iter().collect();
            let word = fold(&phrase.split_whitespace().collect::<Vec<_>>().join(" "));
            let word = word.trim_end_matches('.').to_string();
            if let Some(&power) = table.get(&word) {
                return Some((power, runs[0].0, end));
            }
            // Scripts without spaces write the word against what follows ("12万亿美元").
            (n == 1)
                .then(|| {
                    // The longest such word, whatever the map's order.
                    table
                        .iter()
                        .filter(|(w, _)| {
                            w.chars().last().is_some_and(|c| !glues(c))
                                && word.starts_with(w.as_str())
                        })
                        .max_by_key(|(w, _)| (w.len(), w.as_str()))
                })
                .flatten()
                .map(|(w, &power)| (power, runs[0].0, runs[0].0 + w.chars().count()))
        });
        let metres = |(_, start, end): &(u32, usize, usize)| {
            let word: String = chars[*start..*end].iter().collect();
            fold(word.trim_end_matches('.')) == AFTER_CURRENCY_ONLY
                && !span
                    .start
                    .checked_sub(1)
                    .is_some_and(|i| matches!(chars[i], '$' | '£' | '€' | '¥' | '₹'))
        };
        if let Some((power, start, end)) = found.filter(|f| !metres(f)) {
            out.push(Scaled {
                value: value(&digits, &chars[span.clone()], power),
                digits,
                power,
                word: chars[start..end].iter().collect(),
                at: span.start,
                written: chars[span.start..end].iter().collect(),
            });
        }
    }
    out
}

/// A character of a magnitude word: letters (with their marks) and the dot of an
/// abbreviation ("Mrd.").
fn in_word(c: char) -> bool {
    c.is_alphabetic() || c == '.' || unicode_normalization::char::is_combining_mark(c)
}

/// How `lang` writes the magnitude words of `english` that a translation gets wrong
/// most: billions and up, whose names are false friends across languages, and
/// newsroom abbreviations ("bn"): as (English word, target word) pairs for the
/// translation prompt's glossary ("billion" = "milliards").
pub fn renderings(english: &str, lang: &str) -> Vec<(String, String)> {
    let target = words(lang);
    let mut out: Vec<(String, String)> = Vec::new();
    for s in scaled(english, "en") {
        let Some(&form) = target.write.get(&s.power) else {
            continue;
        };
        let word = s.word.trim_end_matches('.').to_string();
        let risky = s.power >= 9 || word.chars().count() <= 3;
        if risky && fold(&word) != fold(form) && !out.iter().any(|(w, _)| *w == word) {
            out.push((word, form.to_string()));
        }
    }
    out
}

/// The amounts of `english` that `translated` (in `lang`) writes at the same value,
/// in the same unit or another ("$8.8 billion" as "8,8 mil millones", "$12.9bn" as
/// "12.900 millones" or "129億"): verified by the tables.
pub fn kept_amounts(english: &str, translated: &str, lang: &str) -> Vec<Scaled> {
    let target = scaled(translated, lang);
    scaled(english, "en")
        .into_iter()
        .filter(|e| target.iter().any(|t| t.value == e.value))
        .collect()
}

/// [`kept_amounts`] as the English writes them: a round trip that misreads them
/// says nothing of the translation's meaning.
pub fn amounts_written(english: &str, translated: &str, lang: &str) -> Vec<String> {
    kept_amounts(english, translated, lang)
        .into_iter()
        .map(|e| e.written)
        .collect()
}

/// The amounts of `english` that `translated` (in `lang`) writes with the same
/// digits but another value, or with no magnitude, each as `"12.9bn" written "12,9
/// billones" (10^9 became 10^12)` or `"4.2 billion" written "4.2" with no word for
/// its size` ("4,2 billetes", banknotes). The English word kept as it is counts in
/// the target language's sense: German "8,8 Billion" is 10^12. Amounts written
/// with other digits and no magnitude ("12 900 000 000") are left to the number
/// check.
pub fn changed_magnitudes(english: &str, translated: &str, lang: &str) -> Vec<String> {
    if words(lang).powers.is_empty() {
        return Vec::new();
    }
    let target = scaled(translated, lang);
    let chars: Vec<char> = translated.chars().collect();
    let mut out: Vec<String> = Vec::new();
    for e in scaled(english, "en") {
        let same: Vec<&Scaled> = target.iter().filter(|t| t.value.0 == e.value.0).collect();
        let fault = if same.iter().any(|t| t.value == e.value) {
            continue;
        } else if let Some(t) = same.first() {
            format!(
                "\"{}\" written \"{}\" (10^{} became 10^{})",
                e.written, t.written, e.power, t.power
            )
        } else if let Some((_, span)) = number_spans(&chars)
            .into_iter()
            .find(|(d, span)| *d == e.digits && !target.iter().any(|t| t.at == span.start))
        {
            let bare: String = chars[span].iter().collect();
            format!(
                "\"{}\" written \"{bare}\" with no word for its size",
                e.written
            )
        } else {
            continue;
        };
        if !out.contains(&fault) {
            out.push(fault);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magnitudes_are_read_glued_spaced_and_in_several_words() {
        let en = scaled(
            "Revenue hit $12.9bn, up from 3.2 billion, and 5 people left.",
            "en",
        );
        let powers: Vec<(&str, u32)> = en.iter().map(|s| (s.digits.as_str(), s.power)).collect();
        assert_eq!(powers, [("129", 9), ("32", 9)]);
        let metres = scaled("She won the 100m final and a £5m prize.", "en");
        assert_eq!(
            metres
                .iter()
                .map(|s| s.written.as_str())
                .collect::<Vec<_>>(),
            ["5m"]
        );
        assert_eq!(en[0].written, "12.9bn");
        let es = scaled("Ingresos de 12,9 mil millones y 3,2 billones.", "es");
        let powers: Vec<(&str, u32)> = es.iter().map(|s| (s.digits.as_str(), s.power)).collect();
        assert_eq!(powers, [("129", 9), ("32", 12)]);
        assert_eq!(es[0].written, "12,9 mil millones");
        let de = scaled("Ein Defizit von 4 Mrd. Euro und 2 Billionen Dollar.", "de");
        assert_eq!(de.iter().map(|s| s.power).collect::<Vec<_>>(), [9, 12]);
        let zh = scaled("债务达到12万亿美元，收入3亿美元。", "zh");
        assert_eq!(zh.iter().map(|s| s.power).collect::<Vec<_>>(), [12, 8]);
        let ja = scaled("売上高は129億円だった。", "ja");
        assert_eq!(ja.iter().map(|s| s.power).collect::<Vec<_>>(), [8]);
        assert_eq!(ja[0].value, en[0].value, "129億 is 12.9 billion");
    }

    #[test]
    fn a_false_friend_billion_is_caught_and_right_renderings_pass() {
        let en = "The company lost $12.9bn last year and $300m this year.";
        for (lang, ok) in [
            (
                "es",
                "La empresa perdió 12,9 mil millones de dólares y 300 millones este año.",
            ),
            (
                "fr",
                "L'entreprise a perdu 12,9 milliards de dollars et 300 millions cette année.",
            ),
            (
                "de",
                "Das Unternehmen verlor 12,9 Milliarden Dollar und 300 Mio. Dollar.",
            ),
            (
                "ru",
                "Компания потеряла 12,9 млрд долларов и 300 млн в этом году.",
            ),
            // The same amounts in other units: 129 x 10^8, 12,900 millions.
            ("ja", "同社は昨年129億ドル、今年は3億ドルを失った。"),
            (
                "es",
                "La empresa perdió 12.900 millones de dólares y 0,3 mil millones.",
            ),
        ] {
            assert_eq!(
                changed_magnitudes(en, ok, lang),
                Vec::<String>::new(),
                "{lang}: {ok}"
            );
        }
        for (lang, wrong, says) in [
            (
                "es",
                "La empresa perdió 12,9 billones de dólares.",
                "\"12.9bn\" written \"12,9 billones\" (10^9 became 10^12)",
            ),
            (
                "fr",
                "L'entreprise a perdu 12,9 billions de dollars.",
                "\"12.9bn\" written \"12,9 billions\" (10^9 became 10^12)",
            ),
            (
                "de",
                "Das Unternehmen verlor 300 Milliarden Dollar.",
                "\"300m\" written \"300 Milliarden\" (10^6 became 10^9)",
            ),
            // From a real run: "billetes" are banknotes.
            (
                "es",
                "La empresa perdió 12,9 billetes de dólares.",
                "\"12.9bn\" written \"12,9\" with no word for its size",
            ),
            // From a held-out news run: the English word kept, read the German way.
            (
                "de",
                "Das Unternehmen verlor 12,9 Billion Dollar.",
                "\"12.9bn\" written \"12,9 Billion\" (10^9 became 10^12)",
            ),
        ] {
            assert_eq!(
                changed_magnitudes(en, wrong, lang),
                [says],
                "{lang}: {wrong}"
            );
        }
    }

    #[test]
    fn every_language_of_the_table_has_its_million_to_write() {
        for lang in [
            "en", "fr", "de", "es", "it", "pt", "ru", "el", "ar", "nl", "pl",
        ] {
            assert!(words(lang).write.contains_key(&6), "{lang}");
        }
    }

    #[test]
    fn the_glossary_gives_billions_and_abbreviations_their_target_word() {
        let en = "It raised $12.9bn, then 3 billion more, from 140 million people and $5m.";
        assert_eq!(
            renderings(en, "es"),
            [
                ("bn".to_string(), "mil millones".to_string()),
                ("billion".to_string(), "mil millones".to_string()),
                ("m".to_string(), "millones".to_string()),
            ]
        );
        let fr: Vec<String> = renderings(en, "fr").into_iter().map(|(_, t)| t).collect();
        assert_eq!(fr, ["milliards", "milliards", "millions"]);
        assert!(renderings("It cost 140 million.", "de").is_empty());
        assert_eq!(
            amounts_written(en, "Recaudó 12,9 mil millones y 3 billones.", "es"),
            ["12.9bn"]
        );
    }
}
