//! Checks of a translation against its English text, beyond its language: every
//! number kept (in any separator style, or as a number word of the target language),
//! every name kept or written in a known target form, and no name introduced.
//!
//! "Introduced" needs to know what a name looks like in the translation. In French,
//! Spanish, Italian and Portuguese a capital inside a sentence marks a name (or one
//! of a few institutions, listed below). German capitalizes every noun, so there only
//! the names of the gazetteer count: places and bodies that small models swap in
//! (Beijing -> Berlin) are exactly the ones it lists.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::gazetteer::{contains_phrase, entries};
use super::terms::{fold, is_stopword, names, number_values, similar, words};

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub passed: bool,
    /// What failed (or why the check could not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Check {
    pub fn passed() -> Self {
        Check {
            passed: true,
            detail: None,
        }
    }

    pub fn failed(detail: impl Into<String>) -> Self {
        Check {
            passed: false,
            detail: Some(detail.into()),
        }
    }

    /// Passed, but with something worth saying (e.g. no identifier for the language).
    pub fn noted(detail: impl Into<String>) -> Self {
        Check {
            passed: true,
            detail: Some(detail.into()),
        }
    }
}

/// What was checked on the published (or last) attempt, and how it was made.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TranslationChecks {
    pub language: Option<Check>,
    pub numbers: Option<Check>,
    pub names: Option<Check>,
    /// 1: the whole text at once; 2: retried sentence by sentence.
    pub attempts: u32,
}

impl TranslationChecks {
    /// What failed, one line each.
    pub fn failures(&self) -> Vec<String> {
        [&self.language, &self.numbers, &self.names]
            .into_iter()
            .flatten()
            .filter(|c| !c.passed)
            .filter_map(|c| c.detail.clone())
            .collect()
    }
}

/// English words capitalized as titles or institutions rather than names: a
/// translation may drop or paraphrase them.
const TITLES: &str = "president prime minister premier government parliament senate congress \
state secretary chief general director leader spokesman spokeswoman police army court \
foreign defence defense treasury attorney opposition labor labour party council committee \
department ministry federal national commissioner governor mayor king queen prince princess \
west east north south northern southern eastern western central";

fn is_title(folded: &str) -> bool {
    TITLES.split_whitespace().any(|t| t == folded)
}

/// Capitalized words of a target language that are not names: honorifics and
/// institutions written with a capital.
fn capitalized_common(folded: &str, lang: &str) -> bool {
    let list = match lang {
        "fr" => "le la les l un une des du de et en au aux ce cette ces il elle ils elles on nous vous m mme mlle me affaires etrangeres etat eglise parlement senat assemblee gouvernement premier ministre president cour conseil nord sud est ouest",
        "es" => "el la los las un una unos unas de del y en al este esta sr sra srta don dona estado gobierno congreso senado ejercito policia presidente ministerio ministro primer tribunal consejo norte sur este oeste",
        "it" => "il lo la i gli le un una di del e in al sig sigra dott on stato governo parlamento senato camera presidente ministro primo consiglio tribunale nord sud est ovest",
        "pt" => "o a os as um uma de do da e em no na sr sra dr estado governo congresso senado presidente ministro primeiro tribunal conselho norte sul leste oeste",
        "de" => "der die das ein eine und in im herr frau dr",
        _ => "",
    };
    let calendar = match lang {
        "fr" => "janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre lundi mardi mercredi jeudi vendredi samedi dimanche noel",
        "es" => "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre lunes martes miercoles jueves viernes sabado domingo",
        "it" => "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre lunedi martedi mercoledi giovedi venerdi sabato domenica",
        "pt" => "janeiro fevereiro marco abril maio junho julho agosto setembro outubro novembro dezembro segunda terca quarta quinta sexta sabado domingo",
        _ => "",
    };
    list.split_whitespace()
        .chain(calendar.split_whitespace())
        .any(|w| w == folded)
}

/// Whether a folded target word writes `form`: similar, or in German a compound
/// that starts with it ("Weihnachtszeit", "Sydneyer").
fn writes(word: &str, form: &str, lang: &str) -> bool {
    if similar(form, word) {
        return true;
    }
    // Compounds drop a final -en or -e of their first part (Weihnachten -> Weihnachts-).
    let n = form.chars().count();
    let stem: String = form.chars().take(if n >= 7 { n - 2 } else { n }).collect();
    lang == "de" && n >= 5 && word.len() > stem.len() && word.starts_with(&stem)
}

/// Whether the translation's folded words render the English name `name`.
fn rendered(name: &str, lang: &str, target: &HashSet<String>, target_text: &str) -> bool {
    if target.contains(name) || target.iter().any(|w| writes(w, name, lang)) {
        return true;
    }
    entries()
        .iter()
        .filter(|e| e.forms("en").iter().any(|f| f == name))
        .flat_map(|e| e.forms(lang).iter())
        .any(|form| {
            contains_phrase(target_text, form)
                || (!form.contains(' ') && target.iter().any(|w| writes(w, form, lang)))
        })
}

/// Numbers of `english` missing from `translated` (in `lang`).
pub fn missing_numbers(english: &str, translated: &str, lang: &str) -> Vec<String> {
    let have = number_values(translated, lang);
    let mut missing: Vec<String> = number_values(english, "en")
        .into_iter()
        .filter(|v| !have.contains(v))
        .collect();
    missing.sort();
    missing
}

/// Names of `english` neither kept nor rendered in `translated`.
pub fn missing_names(english: &str, translated: &str, lang: &str) -> Vec<String> {
    let target_text = fold(translated);
    let target: HashSet<String> = words(translated).iter().map(|w| fold(w.text)).collect();
    let english_text = fold(english);
    let mut covered: HashSet<String> = HashSet::new();
    let mut missing = Vec::new();
    let english_names = names(english);
    // Multi-word names first ("United States", "West Bank"), as phrases.
    for entry in entries() {
        for form in entry.forms("en").iter().filter(|f| f.contains(' ')) {
            // Written as a name: one of its words has a capital ("New" is a stopword).
            let named = form
                .split(' ')
                .any(|w| english_names.iter().any(|n| n == w));
            if !named || !contains_phrase(&english_text, form) {
                continue;
            }
            covered.extend(form.split(' ').map(str::to_string));
            // Each word of some form, allowing for inflection ("Europäischen Union").
            let kept = entry.forms(lang).iter().chain(entry.forms("en")).any(|f| {
                contains_phrase(&target_text, f)
                    || f.split([' ', '-'])
                        .all(|part| target.iter().any(|w| similar(part, w)))
            });
            if !kept && !form.split(' ').all(is_title) {
                missing.push(form.clone());
            }
        }
    }
    // A run of capitalized words is one name ("Wollongong Hospital", "Round the
    // World"): kept when any of its words is; its ordinary words may be translated.
    for group in name_groups(english, &english_names) {
        let group: Vec<&String> = group
            .iter()
            .filter(|n| !covered.contains(*n) && !is_title(n))
            .collect();
        if group.is_empty() {
            continue;
        }
        if !group
            .iter()
            .any(|n| rendered(n, lang, &target, &target_text))
        {
            missing.extend(group.into_iter().cloned());
        }
    }
    missing
}

/// The names of `text` in runs: consecutive name words, joined across `of`, `the`,
/// `and`, `for` between them.
fn name_groups(text: &str, names: &[String]) -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut gap = 0;
    for w in words(text) {
        let folded = fold(w.text);
        let is_name =
            w.text.chars().next().is_some_and(char::is_uppercase) && names.contains(&folded);
        if w.sentence_initial && !current.is_empty() {
            groups.push(std::mem::take(&mut current));
        }
        if is_name {
            current.push(folded);
            gap = 0;
        } else if !current.is_empty()
            && gap == 0
            && matches!(folded.as_str(), "of" | "the" | "and" | "for")
        {
            gap = 1;
        } else if !current.is_empty() {
            groups.push(std::mem::take(&mut current));
            gap = 0;
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    let mut seen = HashSet::new();
    groups.retain(|g| seen.insert(g.clone()));
    groups
}

/// Names written in `translated` that `english` does not have in any form.
pub fn introduced_names(english: &str, translated: &str, lang: &str) -> Vec<String> {
    let english_words: HashSet<String> = words(english).iter().map(|w| fold(w.text)).collect();
    let english_text = fold(english);
    // Every form of every gazetteer name the English mentions.
    let known: HashSet<&String> = entries()
        .iter()
        .filter(|e| {
            e.forms("en")
                .iter()
                .any(|f| contains_phrase(&english_text, f))
        })
        .flat_map(|e| e.all_forms())
        .collect();
    let gazetteer_word = |w: &str| entries().iter().any(|e| e.all_forms().any(|f| f == w));
    let translated_words = words(translated);
    let mut seen = HashSet::new();
    let mut introduced = Vec::new();
    for w in &translated_words {
        if w.sentence_initial || !w.text.chars().next().is_some_and(char::is_uppercase) {
            continue;
        }
        let folded = fold(w.text);
        if folded.chars().count() < 2
            || w.text.chars().any(|c| c.is_ascii_digit())
            || is_stopword(&folded)
            || capitalized_common(&folded, lang)
            || english_words.iter().any(|e| similar(&folded, e))
            || known
                .iter()
                .any(|k| k.split([' ', '-']).any(|part| part == folded))
        {
            continue;
        }
        if lang == "de" && !gazetteer_word(&folded) {
            continue;
        }
        if seen.insert(folded.clone()) {
            introduced.push(w.text.to_string());
        }
    }
    introduced
}

/// Sentences of `translated` still in English (six words or more, so that the
/// identifier can tell): a translation that left part of its text untranslated.
pub fn english_sentences(translated: &str, lang: &str) -> Vec<String> {
    if lang == "en" {
        return Vec::new();
    }
    crate::chunk::sentences(translated)
        .iter()
        .map(|s| s.text(translated).trim())
        .filter(|s| s.split_whitespace().count() >= 6)
        .filter(|s| {
            matches!(
                crate::lang::check_language(s, lang),
                crate::lang::LanguageCheck::Mismatch("English")
            )
        })
        .map(str::to_string)
        .collect()
}

/// The number and name checks of one translation.
pub fn check_numbers(english: &str, translated: &str, lang: &str) -> Check {
    let missing = missing_numbers(english, translated, lang);
    if missing.is_empty() {
        Check::passed()
    } else {
        Check::failed(format!("numbers missing: {}", missing.join(", ")))
    }
}

pub fn check_names(english: &str, translated: &str, lang: &str) -> Check {
    let missing = missing_names(english, translated, lang);
    let introduced = introduced_names(english, translated, lang);
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("names missing: {}", missing.join(", ")));
    }
    if !introduced.is_empty() {
        problems.push(format!(
            "names not in the English: {}",
            introduced.join(", ")
        ));
    }
    if problems.is_empty() {
        Check::passed()
    } else {
        Check::failed(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EN: &str = "Foreign Minister Alexander Downer met officials in Beijing on Monday. \
        The United States gave 1,000 tonnes of wheat, 19% more than in 2000.";

    #[test]
    fn a_faithful_french_translation_passes() {
        let fr = "Le ministre des Affaires étrangères Alexander Downer a rencontré des \
                  responsables à Pékin lundi. Les États-Unis ont donné 1 000 tonnes de blé, \
                  19 % de plus qu'en 2000.";
        assert_eq!(check_numbers(EN, fr, "fr"), Check::passed());
        assert_eq!(check_names(EN, fr, "fr"), Check::passed());
    }

    #[test]
    fn swapped_places_and_lost_numbers_fail() {
        let de = "Außenminister Alexander Downer traf am Montag Beamte in Berlin. Die \
                  Vereinigten Staaten gaben 1.000 Tonnen Weizen, mehr als im Jahr 2000.";
        assert_eq!(
            check_numbers(EN, de, "de").detail.unwrap(),
            "numbers missing: 19"
        );
        let names = check_names(EN, de, "de").detail.unwrap();
        assert!(names.contains("names missing: beijing"), "{names}");
        assert!(
            names.contains("names not in the English: Berlin"),
            "{names}"
        );
        // German nouns have capitals: they are not taken for introduced names.
        assert!(
            !names.contains("Weizen") && !names.contains("Beamte"),
            "{names}"
        );
    }

    #[test]
    fn name_runs_months_and_inflections() {
        let en = "Six midwives were suspended at Wollongong Hospital. The European Union \
                  will vote in March. Indian troops fired in Kashmir.";
        let fr = "Six sages-femmes ont été suspendues à l'hôpital de Wollongong. L'Union \
                  européenne votera en Mars. Des troupes indiennes ont tiré au Cachemire.";
        assert_eq!(check_names(en, fr, "fr"), Check::passed());
        let fires = "Fires burned in New South Wales on Christmas Eve.";
        let feux = "Des incendies ont brûlé en Nouvelle-Galles du Sud la veille de Noël.";
        assert_eq!(check_names(fires, feux, "fr"), Check::passed());
        let de = "Sechs Hebammen wurden im Krankenhaus Wollongong suspendiert. Die \
                  Europäischen Union stimmt im März ab. Indische Truppen schossen in Kaschmir.";
        assert_eq!(check_names(en, de, "de"), Check::passed());
        let xmas = "Shops closed for Christmas. Jewish groups met.";
        let weihnachten =
            "Die Geschäfte schlossen über die Weihnachtsfeiertage. Jüdische Gruppen trafen sich.";
        assert_eq!(check_names(xmas, weihnachten, "de"), Check::passed());
        let swapped = "Sechs Hebammen wurden in Neuseeland suspendiert. Die Europäischen \
                       Union stimmt im März ab. Indische Truppen schossen in Kaschmir.";
        assert!(check_names(en, swapped, "de")
            .detail
            .unwrap()
            .contains("wollongong"));
    }

    #[test]
    fn sentences_left_in_english_are_found() {
        let de = "Argentina's interim president resigned and left the country in a deep \
                  crisis. Die Regierung gab bekannt, dass Ramon Puerta die Präsidentschaft \
                  übernehmen würde.";
        assert_eq!(english_sentences(de, "de").len(), 1);
        assert!(english_sentences(
            "Die Regierung gab bekannt, dass Ramon Puerta das Amt übernimmt.",
            "de"
        )
        .is_empty());
    }

    #[test]
    fn spanish_number_words_and_introduced_names() {
        let en = "Three soldiers were hurt near Kabul.";
        let es = "Tres soldados resultaron heridos cerca de Kabul, dijo Reuters.";
        assert_eq!(check_numbers(en, es, "es"), Check::passed());
        assert_eq!(
            check_names(en, es, "es").detail.unwrap(),
            "names not in the English: Reuters"
        );
    }
}
