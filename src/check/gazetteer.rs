//! How names are written in each language: countries, regions, cities, languages
//! (CLDR and GeoNames, generated into `names/world.tsv` by `scripts/gen-names.sh`)
//! and a short hand list of what no data source has (`names/hand.tsv`: bodies,
//! aliases such as "Britain", diseases, holidays). The translation checks use it to
//! accept "Pékin" for "Beijing" and "États-Unis" for "U.S.", and to catch a place the
//! English never named; the translation prompt gives the model the forms it knows.
//!
//! Rows stay as the tables' lines and are split when read; an index from each
//! language's forms to rows is built the first time that language is checked.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::terms::name_key;

const WORLD: &str = include_str!("names/world.tsv");
const HAND: &str = include_str!("names/hand.tsv");

/// What a row names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A country, or a body CLDR lists with them (the EU, the UN).
    Country,
    /// A group of countries (Europe, Western Asia).
    Region,
    /// A state, province or other first-level part of a country.
    Subdivision,
    City,
    /// A language; in English its name is also the nationality ("French").
    Language,
    /// A day of the week or a month.
    Calendar,
    /// From the hand list: bodies, diseases, holidays, religions.
    Other,
}

impl Kind {
    fn parse(s: &str) -> Kind {
        match s {
            "country" => Kind::Country,
            "region" => Kind::Region,
            "subdivision" => Kind::Subdivision,
            "city" => Kind::City,
            "language" => Kind::Language,
            "calendar" => Kind::Calendar,
            _ => Kind::Other,
        }
    }

    /// A place: what a translation must not swap for another.
    pub fn is_place(self) -> bool {
        matches!(
            self,
            Kind::Country | Kind::Region | Kind::Subdivision | Kind::City
        )
    }
}

/// One table: its language columns and its lines.
struct Table {
    /// Column of each language code.
    columns: HashMap<&'static str, usize>,
}

impl Table {
    fn parse(text: &'static str) -> (Table, Vec<&'static str>) {
        let mut lines = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty());
        let header = lines.next().expect("a name table has a header");
        let columns = header
            .split('\t')
            .enumerate()
            .skip(2)
            .map(|(i, lang)| (lang, i))
            .collect();
        (Table { columns }, lines.collect())
    }
}

/// One thing named, with its lines in the tables (a hand alias adds a line to a
/// row of the generated table).
pub struct Row {
    pub kind: Kind,
    lines: Vec<(usize, &'static str)>,
}

pub struct Gazetteer {
    tables: [Table; 2],
    rows: Vec<Row>,
    english: HashMap<String, Vec<u32>>,
    /// English single-word keys in order, for nationality words ("Canadian" ->
    /// "canada").
    english_sorted: Vec<(String, u32)>,
    /// Longest English form, in words.
    longest: usize,
    /// Every other language's index, built when first asked for.
    by_lang: HashMap<&'static str, OnceLock<HashMap<String, Vec<u32>>>>,
}

/// The tables, parsed on first use.
pub fn gazetteer() -> &'static Gazetteer {
    static G: OnceLock<Gazetteer> = OnceLock::new();
    G.get_or_init(Gazetteer::load)
}

impl Gazetteer {
    fn load() -> Gazetteer {
        let (world, world_lines) = Table::parse(WORLD);
        let (hand, hand_lines) = Table::parse(HAND);
        let mut rows: Vec<Row> = Vec::new();
        let mut by_key: HashMap<&str, usize> = HashMap::new();
        for line in world_lines {
            let mut cells = line.splitn(3, '\t');
            let kind = Kind::parse(cells.next().unwrap_or_default());
            let key = cells.next().unwrap_or_default();
            if matches!(kind, Kind::Country) {
                by_key.insert(key, rows.len());
            }
            rows.push(Row {
                kind,
                lines: vec![(0, line)],
            });
        }
        for line in hand_lines {
            let mut cells = line.splitn(3, '\t');
            let kind = cells.next().unwrap_or_default();
            let key = cells.next().unwrap_or_default();
            match (kind, by_key.get(key)) {
                ("alias", Some(&row)) => rows[row].lines.push((1, line)),
                _ => rows.push(Row {
                    kind: Kind::Other,
                    lines: vec![(1, line)],
                }),
            }
        }
        let by_lang = world
            .columns
            .keys()
            .chain(hand.columns.keys())
            .map(|&lang| (lang, OnceLock::new()))
            .collect();
        let mut g = Gazetteer {
            tables: [world, hand],
            rows,
            english: HashMap::new(),
            english_sorted: Vec::new(),
            longest: 1,
            by_lang,
        };
        g.english = g.index("en");
        g.longest = g
            .english
            .keys()
            .map(|k| k.split(' ').count())
            .max()
            .unwrap_or(1)
            .min(6);
        g.english_sorted = g
            .english
            .iter()
            .filter(|(k, _)| !k.contains(' '))
            .flat_map(|(k, rows)| rows.iter().map(move |&r| (k.clone(), r)))
            .collect();
        g.english_sorted.sort();
        g
    }

    /// Forms of `row` in `lang` as the tables write them.
    pub fn raw_forms(&self, row: u32, lang: &str) -> Vec<&'static str> {
        let row = &self.rows[row as usize];
        let mut out: Vec<&'static str> = Vec::new();
        for &(table, line) in &row.lines {
            let Some(&col) = self.tables[table].columns.get(lang) else {
                continue;
            };
            let cell = line.split('\t').nth(col).unwrap_or_default();
            for form in cell.split(';').map(str::trim).filter(|f| !f.is_empty()) {
                if !out.contains(&form) {
                    out.push(form);
                }
            }
        }
        out
    }

    /// Keys ([`name_key`]) of the forms of `row` in `lang`; the English ones too,
    /// since a translation may keep a name as written.
    pub fn forms(&self, row: u32, lang: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for form in self
            .raw_forms(row, lang)
            .into_iter()
            .chain(self.raw_forms(row, "en"))
        {
            let key = name_key(form);
            if !key.is_empty() && !out.contains(&key) {
                out.push(key);
            }
        }
        out
    }

    pub fn kind(&self, row: u32) -> Kind {
        self.rows[row as usize].kind
    }

    fn index(&self, lang: &str) -> HashMap<String, Vec<u32>> {
        let mut index: HashMap<String, Vec<u32>> = HashMap::new();
        for row in 0..self.rows.len() as u32 {
            // An empty cell: written as in English.
            let mut forms = self.raw_forms(row, lang);
            if forms.is_empty() {
                forms = self.raw_forms(row, "en");
            }
            for form in forms {
                let key = name_key(form);
                // One letter is no name to look for ("É.-U." folds to "e u" once
                // its dots go, a one-letter "form" would match every initial).
                if key.chars().filter(|c| c.is_alphanumeric()).count() < 2 {
                    continue;
                }
                let rows = index.entry(key).or_default();
                if !rows.contains(&row) {
                    rows.push(row);
                }
            }
        }
        index
    }

    /// Rows with a form keyed `key` in `lang` (English forms: [`Self::english`]).
    pub fn rows_in(&self, lang: &str, key: &str) -> &[u32] {
        if lang == "en" {
            return self.english(key);
        }
        self.by_lang
            .get(lang)
            .map(|index| index.get_or_init(|| self.index(lang)))
            .and_then(|index| index.get(key))
            .map_or(&[], Vec::as_slice)
    }

    /// Keyed forms in `lang` of every row of `kind` (a short list: days, months).
    pub fn forms_of_kind(&self, kind: Kind, lang: &str) -> Vec<String> {
        (0..self.rows.len() as u32)
            .filter(|&r| self.kind(r) == kind)
            .flat_map(|r| self.raw_forms(r, lang))
            .map(name_key)
            .collect()
    }

    /// Every keyed form of `lang` the tables have.
    pub fn keys_in(&self, lang: &str) -> impl Iterator<Item = &String> {
        self.by_lang
            .get(lang)
            .map(|index| index.get_or_init(|| self.index(lang)))
            .into_iter()
            .flat_map(|index| index.keys())
    }

    /// Rows with an English form keyed `key`.
    pub fn english(&self, key: &str) -> &[u32] {
        self.english.get(key).map_or(&[], Vec::as_slice)
    }

    /// The most words an English form has (phrases are looked up that long).
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// The place (or language) a nationality word names: "Canadian" -> Canada,
    /// "Victorian" -> Victoria, "Chinese" -> China, "British" -> Britain. `key` is
    /// the word's [`name_key`]. Demonyms are in no data package, but English makes
    /// most of them from the place's name with a few suffixes.
    pub fn demonym_place(&self, key: &str) -> Option<(u32, String)> {
        const SUFFIXES: [&str; 7] = ["ians", "ian", "ans", "an", "ese", "ish", "i"];
        let stems = SUFFIXES
            .iter()
            .filter_map(|s| key.strip_suffix(s))
            .chain(key.strip_suffix('n'))
            .filter(|stem| stem.chars().count() >= 4);
        for stem in stems {
            let from = self
                .english_sorted
                .partition_point(|(k, _)| k.as_str() < stem);
            let best = self.english_sorted[from..]
                .iter()
                .take_while(|(k, _)| k.starts_with(stem))
                .filter(|(k, r)| k.as_str() != key && self.kind(*r).is_place())
                .min_by_key(|(k, r)| (self.kind(*r) != Kind::Country, k.len(), *r));
            if let Some((_, r)) = best {
                return Some((*r, stem.to_string()));
            }
        }
        None
    }
}

/// Whether `text` contains `phrase` at word boundaries (both already keyed).
pub fn contains_phrase(text: &str, phrase: &str) -> bool {
    !phrase.is_empty()
        && text.match_indices(phrase).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + phrase.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(en: &str) -> u32 {
        gazetteer().english(&name_key(en))[0]
    }

    #[test]
    fn countries_cities_and_regions_come_from_the_data() {
        let g = gazetteer();
        let us = g.english(&name_key("U.S."));
        assert!(!us.is_empty());
        assert!(g.forms(us[0], "fr").contains(&name_key("États-Unis")));
        assert!(g.forms(row("Beijing"), "fr").contains(&name_key("Pékin")));
        assert!(g.forms(row("Ankara"), "ru").contains(&name_key("Анкара")));
        assert!(g.forms(row("Nigeria"), "el").contains(&name_key("Νιγηρία")));
        assert!(g
            .forms(row("New South Wales"), "fr")
            .contains(&name_key("Nouvelle-Galles du Sud")));
        assert!(g
            .forms(row("Britain"), "fr")
            .contains(&name_key("Royaume-Uni")));
        assert!(g
            .forms(row("United Nations"), "de")
            .contains(&name_key("Vereinte Nationen")));
        assert!(g.forms(row("HIV"), "fr").contains(&name_key("VIH")));
        assert!(g.kind(row("Ankara")).is_place());
    }

    #[test]
    fn nationality_words_lead_to_their_place() {
        let g = gazetteer();
        for (word, place) in [
            ("canadian", "canada"),
            ("victorian", "victoria"),
            ("iraqi", "iraq"),
            ("egyptian", "egypt"),
            ("australian", "australia"),
        ] {
            let (r, _) = g.demonym_place(word).unwrap_or_else(|| panic!("{word}"));
            assert!(g.forms(r, "en").contains(&place.to_string()), "{word}");
        }
        assert!(g.demonym_place("bank").is_none());
    }

    #[test]
    fn phrases_match_whole_words() {
        assert!(contains_phrase("les etats unis ont", "etats unis"));
        assert!(!contains_phrase("unionist", "union"));
    }
}
