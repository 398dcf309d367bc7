//! Language names and codes: users type `fr` or `french`, prompts need "French".

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
    }
}
