//! Language names and codes (users type `fr` or `french`, prompts need "French"),
//! and checking which language a model actually answered in.

use whatlang::{Detector, Lang};

/// ISO 639-1 code and English name of the languages abridge knows by name.
const LANGUAGES: &[(&str, &str)] = &[
    ("ar", "Arabic"),
    ("bg", "Bulgarian"),
    ("bn", "Bengali"),
    ("ca", "Catalan"),
    ("cs", "Czech"),
    ("da", "Danish"),
    ("de", "German"),
    ("el", "Greek"),
    ("en", "English"),
    ("es", "Spanish"),
    ("et", "Estonian"),
    ("fa", "Persian"),
    ("fi", "Finnish"),
    ("fr", "French"),
    ("he", "Hebrew"),
    ("hi", "Hindi"),
    ("hr", "Croatian"),
    ("hu", "Hungarian"),
    ("id", "Indonesian"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("lt", "Lithuanian"),
    ("lv", "Latvian"),
    ("ms", "Malay"),
    ("nl", "Dutch"),
    ("no", "Norwegian"),
    ("pl", "Polish"),
    ("pt", "Portuguese"),
    ("ro", "Romanian"),
    ("ru", "Russian"),
    ("sk", "Slovak"),
    ("sl", "Slovenian"),
    ("sr", "Serbian"),
    ("sv", "Swedish"),
    ("sw", "Swahili"),
    ("th", "Thai"),
    ("tr", "Turkish"),
    ("uk", "Ukrainian"),
    ("ur", "Urdu"),
    ("vi", "Vietnamese"),
    ("zh", "Chinese"),
];

/// Other codes still in use for a language above (Norwegian Bokmål/Nynorsk, old Hebrew
/// and Indonesian codes).
const ALIASES: &[(&str, &str)] = &[("nb", "no"), ("nn", "no"), ("iw", "he"), ("in", "id")];

/// The `whatlang` language for each code it can identify (it has no model for Malay
/// or Swahili, whose translations go unchecked).
const DETECTABLE: &[(&str, Lang)] = &[
    ("ar", Lang::Ara),
    ("bg", Lang::Bul),
    ("bn", Lang::Ben),
    ("ca", Lang::Cat),
    ("cs", Lang::Ces),
    ("da", Lang::Dan),
    ("de", Lang::Deu),
    ("el", Lang::Ell),
    ("en", Lang::Eng),
    ("es", Lang::Spa),
    ("et", Lang::Est),
    ("fa", Lang::Pes),
    ("fi", Lang::Fin),
    ("fr", Lang::Fra),
    ("he", Lang::Heb),
    ("hi", Lang::Hin),
    ("hr", Lang::Hrv),
    ("hu", Lang::Hun),
    ("id", Lang::Ind),
    ("it", Lang::Ita),
    ("ja", Lang::Jpn),
    ("ko", Lang::Kor),
    ("lt", Lang::Lit),
    ("lv", Lang::Lav),
    ("nl", Lang::Nld),
    ("no", Lang::Nob),
    ("pl", Lang::Pol),
    ("pt", Lang::Por),
    ("ro", Lang::Ron),
    ("ru", Lang::Rus),
    ("sk", Lang::Slk),
    ("sl", Lang::Slv),
    ("sr", Lang::Srp),
    ("sv", Lang::Swe),
    ("th", Lang::Tha),
    ("tr", Lang::Tur),
    ("uk", Lang::Ukr),
    ("ur", Lang::Urd),
    ("vi", Lang::Vie),
    ("zh", Lang::Cmn),
];

fn lookup(code_or_name: &str) -> Option<(&'static str, &'static str)> {
    let s = code_or_name.trim();
    // Region and script subtags do not change the language: `pt-BR`, `zh_Hans`.
    let primary = s.split(['-', '_']).next().unwrap_or(s);
    let code = ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(primary))
        .map_or(primary, |(_, code)| code);
    LANGUAGES
        .iter()
        .find(|(c, name)| c.eq_ignore_ascii_case(code) || name.eq_ignore_ascii_case(s))
        .copied()
}

/// English name ("French") of an ISO 639-1 code or English name, case-insensitive.
pub fn language_name(code_or_name: &str) -> Option<&'static str> {
    lookup(code_or_name).map(|(_, name)| name)
}

/// ISO 639-1 code ("fr") of an English name or code, case-insensitive.
pub fn language_code(name: &str) -> Option<&'static str> {
    lookup(name).map(|(code, _)| code)
}

/// What a language check of a model's answer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LanguageCheck {
    /// The text is in the expected language.
    Match,
    /// The text is in another language (its English name).
    Mismatch(&'static str),
    /// No identifier for the expected language, or nothing to identify: unchecked.
    Unknown,
}

/// Checks that `text` is written in `expected` (a code or English name).
///
/// Small models often answer in the source language instead of the one asked for,
/// so a confident detection of anything else is a mismatch. When the detector is
/// unsure (short or mixed text) the question narrows to "the expected language or
/// English?", the failure that matters.
pub fn check_language(text: &str, expected: &str) -> LanguageCheck {
    let Some(want) = lookup(expected).and_then(|(code, _)| detectable(code)) else {
        return LanguageCheck::Unknown;
    };
    let Some(info) = whatlang::detect(text) else {
        return LanguageCheck::Unknown;
    };
    let found = if info.is_reliable() || info.lang() == want {
        info.lang()
    } else {
        let pair = Detector::with_allowlist(vec![want, Lang::Eng]);
        match pair.detect_lang(text) {
            Some(lang) => lang,
            None => return LanguageCheck::Unknown,
        }
    };
    if found == want {
        LanguageCheck::Match
    } else {
        LanguageCheck::Mismatch(english_name(found))
    }
}

/// The ISO 639-1 code of the language `text` is written in, when the identifier
/// is sure of it; for an article that does not declare its language.
pub fn detect_language(text: &str) -> Option<&'static str> {
    let info = whatlang::detect(text).filter(|i| i.is_reliable())?;
    DETECTABLE
        .iter()
        .find(|(_, l)| *l == info.lang())
        .map(|(code, _)| *code)
}

/// A declared language as an ISO 639-1 code: a tag's two-letter primary language
/// ("en-US" -> "en", "pt_BR" -> "pt"), or a language's English name or code
/// ("English", "Italiano (Italian)", "eng"); none when it is neither ("und").
pub fn primary_language(declared: &str) -> Option<String> {
    let declared = declared.trim();
    let primary = declared.split(['-', '_']).next().unwrap_or("");
    if primary.len() == 2 && primary.chars().all(|c| c.is_ascii_alphabetic()) {
        return Some(primary.to_ascii_lowercase());
    }
    declared
        .split(|c: char| !c.is_alphabetic())
        .find_map(language_code)
        .map(String::from)
}

fn detectable(code: &str) -> Option<Lang> {
    DETECTABLE.iter().find(|(c, _)| *c == code).map(|(_, l)| *l)
}

/// Our English name for a detected language, else whatlang's.
fn english_name(lang: Lang) -> &'static str {
    DETECTABLE
        .iter()
        .find(|(_, l)| *l == lang)
        .and_then(|(code, _)| language_name(code))
        .unwrap_or_else(|| lang.eng_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_map_to_english_names() {
        assert_eq!(language_name("fr"), Some("French"));
        assert_eq!(language_name("FR"), Some("French"));
        assert_eq!(language_name("french"), Some("French"));
        assert_eq!(language_name(" German "), Some("German"));
        assert_eq!(language_name("pt-BR"), Some("Portuguese"));
        assert_eq!(language_name("zh_Hans"), Some("Chinese"));
        assert_eq!(language_name("nb"), Some("Norwegian"));
        assert_eq!(language_name("klingon"), None);
        assert_eq!(language_name(""), None);
    }

    #[test]
    fn names_and_codes_map_to_codes() {
        assert_eq!(language_code("Spanish"), Some("es"));
        assert_eq!(language_code("dutch"), Some("nl"));
        assert_eq!(language_code("it"), Some("it"));
        assert_eq!(language_code("Elvish"), None);
    }

    #[test]
    fn checks_the_language_of_an_answer() {
        let fr = "Le gouvernement a annoncé mardi une nouvelle réforme des retraites, \
                  qui sera présentée au Parlement la semaine prochaine.";
        let en = "The government announced a new pension reform on Tuesday, which will \
                  be presented to parliament next week.";
        let de = "Die Regierung hat am Dienstag eine neue Rentenreform angekündigt, die \
                  nächste Woche dem Parlament vorgelegt wird.";
        assert_eq!(check_language(fr, "fr"), LanguageCheck::Match);
        assert_eq!(check_language(de, "German"), LanguageCheck::Match);
        assert_eq!(check_language(en, "de"), LanguageCheck::Mismatch("English"));
        assert_eq!(check_language(fr, "de"), LanguageCheck::Mismatch("French"));
        assert_eq!(check_language(en, "sw"), LanguageCheck::Unknown);
        assert_eq!(check_language("", "fr"), LanguageCheck::Unknown);
    }

    #[test]
    fn table_is_consistent() {
        assert!(LANGUAGES.len() >= 30);
        for (code, name) in LANGUAGES {
            assert_eq!(code.len(), 2);
            assert_eq!(language_name(code), Some(*name));
            assert_eq!(language_code(name), Some(*code));
        }
        for (_, code) in ALIASES {
            assert!(language_name(code).is_some());
        }
        for (code, _) in DETECTABLE {
            assert!(language_name(code).is_some(), "{code}");
        }
    }
}
