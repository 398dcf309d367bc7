//! Amounts that a translation writes in another currency: "$8.8 billion" written
//! "8,8 milliards d'euros" keeps every digit and its size, and is still wrong.
//!
//! Currencies are grouped in families by their English noun ("dollar" for the US,
//! Australian and Hong Kong dollars), since "$" alone does not say which dollar.
//! How each language names and writes them comes from Unicode CLDR, generated
//! into `names/currencies.tsv` by `scripts/gen-currencies.py` (called by
//! `scripts/gen-names.sh`).

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::OnceLock;

use super::magnitude::scaled;
use super::terms::{fold, glues, is_space, number_spans};

const TABLE: &str = include_str!("names/currencies.tsv");

/// The words after a number and its magnitude in which its currency may be named:
/// "8,8 milliards d'euros", "8.800 millones de dólares", "5 euros".
const WORDS_AFTER: usize = 2;

/// How one language names and writes the currency families.
#[derive(Default)]
struct Forms {
    /// Words and whole names, as folded tokens, with their families.
    words: HashMap<Vec<String>, Vec<&'static str>>,
    /// The most tokens a name has.
    longest: usize,
    /// Symbols as written ("$US", "£"), with their families.
    symbols: Vec<(&'static str, &'static str)>,
}

struct Tables {
    langs: HashMap<&'static str, Forms>,
    /// ISO codes and their families, in every language.
    codes: HashMap<&'static str, &'static str>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut langs: HashMap<&'static str, Forms> = HashMap::new();
        let mut codes = HashMap::new();
        for line in TABLE.lines().skip(1) {
            let [lang, family, form, kind] = line.split('\t').collect::<Vec<_>>()[..] else {
                continue;
            };
            match kind {
                "code" => {
                    codes.insert(form, family);
                }
                "symbol" => {
                    // One letter ("R", "K.") is an initial as often as a symbol.
                    if form.chars().filter(|c| c.is_alphabetic()).count() != 1 {
                        langs.entry(lang).or_default().symbols.push((form, family));
                    }
                }
                _ => {
                    let key: Vec<String> = tokens(form).into_iter().map(|t| t.0).collect();
                    if key.is_empty() {
                        continue;
                    }
                    let forms = langs.entry(lang).or_default();
                    forms.longest = forms.longest.max(key.len());
                    let families = forms.words.entry(key).or_default();
                    if !families.contains(&family) {
                        families.push(family);
                    }
                }
            }
        }
        Tables { langs, codes }
    })
}

/// The words of `text`, folded, with their char ranges: runs of letters split at
/// hyphens and apostrophes, and each character of scripts written without spaces
/// ("米ドル" is three), so that a name matches inside a run of them.
fn tokens(text: &str) -> Vec<(String, Range<usize>)> {
    let chars: Vec<char> = text.chars().collect();
    let letter = |c: char| c.is_alphabetic() || unicode_normalization::char::is_combining_mark(c);
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !letter(chars[i]) {
            i += 1;
            continue;
        }
        let end = if glues(chars[i]) {
            i + chars[i..]
                .iter()
                .take_while(|&&c| letter(c) && glues(c))
                .count()
        } else {
            i + 1
        };
        out.push((fold(&chars[i..end].iter().collect::<String>()), i..end));
        i = end;
    }
    out
}

/// A currency named or written in a text.
#[derive(Clone, Debug)]
struct Mention {
    family: &'static str,
    at: Range<usize>,
    /// A word, name or symbol: one that says which currency the text means. A code
    /// ("ALL", "TOP") only says that one may be there.
    sure: bool,
}

fn mentions(text: &str, lang: &str) -> Vec<Mention> {
    let tables = tables();
    let Some(forms) = tables.langs.get(lang) else {
        return Vec::new();
    };
    let chars: Vec<char> = text.chars().collect();
    let words = tokens(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let longest = forms.longest.min(words.len() - i);
        let found = (1..=longest).rev().find_map(|n| {
            let key: Vec<String> = words[i..i + n].iter().map(|w| w.0.clone()).collect();
            forms.words.get(&key).map(|families| (n, families))
        });
        match found {
            Some((n, families)) => {
                let at = words[i].1.start..words[i + n - 1].1.end;
                for &family in families {
                    let at = at.clone();
                    out.push(Mention {
                        family,
                        at,
                        sure: true,
                    });
                }
                i += n;
            }
            None => {
                let written: String = chars[words[i].1.clone()].iter().collect();
                if let Some(&family) = tables.codes.get(written.as_str()) {
                    let at = words[i].1.clone();
                    out.push(Mention {
                        family,
                        at,
                        sure: false,
                    });
                }
                i += 1;
            }
        }
    }
    for &(symbol, family) in &forms.symbols {
        let symbol: Vec<char> = symbol.chars().collect();
        let lettered = symbol.iter().any(|c| c.is_alphabetic());
        for start in 0..chars.len().saturating_sub(symbol.len() - 1) {
            let end = start + symbol.len();
            if chars[start..end] != symbol[..] {
                continue;
            }
            // "US$" in "US$5", not in "BUS$"
            let bounded = !lettered
                || !(start > 0 && glues(chars[start - 1])
                    || chars.get(end).is_some_and(|&c| c.is_alphabetic()));
            if bounded {
                out.push(Mention {
                    family,
                    at: start..end,
                    sure: true,
                });
            }
        }
    }
    out
}

/// A number and the currencies written against it.
struct Amount {
    digits: String,
    /// The number and its currency as the text writes them.
    written: String,
    families: Vec<Mention>,
}

/// The numbers of `text` with a currency: a symbol or code just before them
/// ("$8.8", "USD 5"), or a name within a few words after them ("8,8 milliards
/// d'euros", "5 euros").
/// `found` holds the text's [`mentions`].
fn amounts(text: &str, lang: &str, found: &[Mention]) -> Vec<Amount> {
    if found.is_empty() {
        return Vec::new();
    }
    let chars: Vec<char> = text.chars().collect();
    let words = tokens(text);
    let numbers = number_spans(&chars);
    let scaled = scaled(text, lang);
    let mut out = Vec::new();
    for (k, (digits, span)) in numbers.iter().enumerate() {
        if digits.contains(':') {
            continue;
        }
        let next = numbers.get(k + 1).map_or(chars.len(), |n| n.1.start);
        // past the number's magnitude word ("milliards", "mil millones")
        let past = scaled
            .iter()
            .find(|s| s.at == span.start)
            .map_or(span.end, |s| s.at + s.written.chars().count());
        let after = words
            .iter()
            .filter(|w| w.1.start >= past)
            .nth(WORDS_AFTER - 1)
            .map_or(chars.len(), |w| w.1.end)
            .min(next);
        let before = |m: &Mention| {
            m.at.end <= span.start && chars[m.at.end..span.start].iter().all(|&c| is_space(c))
        };
        let families: Vec<Mention> = found
            .iter()
            .filter(|m| before(m) || (m.at.start >= span.end && m.at.start < after))
            .cloned()
            .collect();
        if families.is_empty() {
            continue;
        }
        let start = families
            .iter()
            .map(|m| m.at.start)
            .fold(span.start, usize::min);
        let end = families.iter().map(|m| m.at.end).fold(past, usize::max);
        out.push(Amount {
            digits: digits.clone(),
            // a sentence's full stop after the magnitude is not part of it
            written: chars[start..end]
                .iter()
                .collect::<String>()
                .trim_end_matches('.')
                .to_string(),
            families,
        });
    }
    out
}

/// The amounts of `english` that `translated` (in `lang`) writes in another
/// currency, each as `"$8.8 billion" written "8,8 milliards d'euros" (dollar became
/// euro)`: the English currency is named nowhere in the translation, and an amount
/// there is in a currency the English never names. A translation that names no
/// currency, or one the English also names, is left alone: the tables cannot hold
/// every way of writing one ("yens" is not CLDR's French name).
pub fn changed_currencies(english: &str, translated: &str, lang: &str) -> Vec<String> {
    let in_english = mentions(english, "en");
    let source = amounts(english, "en", &in_english);
    if source.is_empty() {
        return Vec::new();
    }
    let in_translation = mentions(translated, lang);
    let target = amounts(translated, lang, &in_translation);
    let families =
        |found: &[Mention]| -> HashSet<&'static str> { found.iter().map(|m| m.family).collect() };
    let (in_english, in_translation) = (families(&in_english), families(&in_translation));
    let invented = |m: &&Mention| m.sure && !in_english.contains(m.family);
    let mut out: Vec<String> = Vec::new();
    for e in &source {
        if e.families.iter().any(|m| in_translation.contains(m.family)) {
            continue;
        }
        // the same digits first, else any amount in another currency
        let Some((t, became)) = target
            .iter()
            .filter_map(|t| t.families.iter().find(invented).map(|m| (t, m.family)))
            .min_by_key(|(t, _)| t.digits != e.digits)
        else {
            continue;
        };
        let was = e.families[0].family;
        let fault = format!(
            "\"{}\" written \"{}\" ({was} became {became})",
            e.written, t.written
        );
        if !out.contains(&fault) {
            out.push(fault);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amounts(text: &str, lang: &str) -> Vec<Amount> {
        super::amounts(text, lang, &mentions(text, lang))
    }

    #[test]
    fn amounts_read_their_currency_before_or_after() {
        let en = amounts(
            "Boeing's order was worth $8.8 billion, or 7 million yen a seat.",
            "en",
        );
        let got: Vec<(&str, &str)> = en
            .iter()
            .map(|a| (a.written.as_str(), a.families[0].family))
            .collect();
        assert_eq!(got, [("$8.8 billion", "dollar"), ("7 million yen", "yen")]);
        let fr = amounts("La commande valait 8,8 milliards d'euros.", "fr");
        assert_eq!(fr[0].written, "8,8 milliards d'euros");
        assert_eq!(fr[0].families[0].family, "euro");
        let de = amounts("Der Auftrag war 8,8 Milliarden US-Dollar wert.", "de");
        assert!(de[0].families.iter().any(|m| m.family == "dollar"));
        // scripts without spaces: the name inside a run of characters
        let ja = amounts("注文は88億米ドル相当だった。", "ja");
        assert!(
            ja[0].families.iter().any(|m| m.family == "dollar"),
            "{}",
            ja[0].written
        );
        // a year or a count is not an amount
        assert!(amounts("In 2024, 300 people came.", "en").is_empty());
    }

    #[test]
    fn another_currency_is_caught_and_the_same_one_passes() {
        let en = "Boeing said the order was worth $8.8 billion.";
        let faults = changed_currencies(
            en,
            "Boeing a déclaré que la commande valait 8,8 milliards d'euros.",
            "fr",
        );
        assert_eq!(
            faults,
            ["\"$8.8 billion\" written \"8,8 milliards d'euros\" (dollar became euro)"]
        );
        assert_eq!(
            changed_currencies(
                en,
                "Boeing erklärte, der Auftrag sei 8,8 Milliarden Euro wert.",
                "de"
            )
            .len(),
            1
        );
        for (lang, text) in [
            (
                "fr",
                "Boeing a déclaré que la commande valait 8,8 milliards de dollars.",
            ),
            (
                "de",
                "Boeing erklärte, der Auftrag sei 8,8 Milliarden US-Dollar wert.",
            ),
            (
                "es",
                "Boeing dijo que el pedido valía 8.800 millones de dólares.",
            ),
            ("ru", "Boeing заявил, что заказ стоил 8,8 млрд долларов."),
            (
                "fr",
                "Boeing a déclaré que la commande valait 8,8 milliards $US.",
            ),
            // no currency named: left to the other checks
            (
                "fr",
                "Boeing a déclaré que la commande valait 8,8 milliards.",
            ),
        ] {
            assert!(
                changed_currencies(en, text, lang).is_empty(),
                "{lang}: {text}"
            );
        }
        // pounds to dollars; an English sentence naming both currencies passes
        let en = "The club paid £45m for the striker.";
        assert_eq!(
            changed_currencies(
                en,
                "El club pagó 45 millones de dólares por el delantero.",
                "es"
            )
            .len(),
            1
        );
        assert!(changed_currencies(
            en,
            "El club pagó 45 millones de libras por el delantero.",
            "es"
        )
        .is_empty());
        let en = "The club paid £45m ($57m) for the striker.";
        assert!(
            changed_currencies(en, "Le club a payé 45 M£ (57 millions de dollars).", "fr")
                .is_empty()
        );
    }

    #[test]
    fn words_that_are_not_currencies_do_not_count() {
        // Spanish "sol" is the sun, and Peru's sol: only next to a number is it money
        let en = "The firm raised $5 million under a bright sun.";
        assert!(
            changed_currencies(en, "La empresa recaudó 5 millones bajo el sol.", "es").is_empty()
        );
        // French "européenne" is not "euro"
        let en = "The European Union gave $3 million.";
        assert!(changed_currencies(
            en,
            "L'Union européenne a donné 3 millions de dollars.",
            "fr"
        )
        .is_empty());
    }
}
