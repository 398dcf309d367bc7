//! Names whose forms differ by language (exonyms: Beijing / Pékin / Peking) and
//! nationality words, so a translation that writes a name in the target language's
//! form is not taken for one that lost it; and well-known names, so a German
//! translation (where every noun has a capital) can still be caught writing a
//! place or body that the English never named.

use std::sync::OnceLock;

use super::terms::fold;

/// Languages of the table's columns.
const COLUMNS: [&str; 6] = ["en", "fr", "de", "es", "it", "pt"];

/// One line per name: its forms in [`COLUMNS`] order, alternatives split by `/`.
const TABLE: &str = "\
Afghanistan|Afghanistan|Afghanistan|Afganistán|Afghanistan|Afeganistão
Afghan|afghan/afghane|afghanisch/Afghane|afgano/afgana|afgano/afghano|afegão/afegã
Algeria|Algérie|Algerien|Argelia|Algeria|Argélia
Argentina|Argentine|Argentinien|Argentina|Argentina|Argentina
Australia|Australie|Australien|Australia|Australia|Austrália
Austria|Autriche|Österreich|Austria|Austria|Áustria
Belgium|Belgique|Belgien|Bélgica|Belgio|Bélgica
Brazil|Brésil|Brasilien|Brasil|Brasile|Brasil
Britain/UK/United Kingdom|Grande-Bretagne/Royaume-Uni|Großbritannien/Vereinigtes Königreich|Gran Bretaña/Reino Unido|Gran Bretagna/Regno Unito|Grã-Bretanha/Reino Unido
British|britannique|britisch/Brite|británico/británica|britannico/britannica|britânico/britânica
Canada|Canada|Kanada|Canadá|Canada|Canadá
China|Chine|China|China|Cina|China
Chinese|chinois/chinoise|chinesisch/Chinese|chino/china|cinese|chinês/chinesa
Cyprus|Chypre|Zypern|Chipre|Cipro|Chipre
Denmark|Danemark|Dänemark|Dinamarca|Danimarca|Dinamarca
Danish|danois/danoise|dänisch|danés/danesa|danese|dinamarquês
Egypt|Égypte|Ägypten|Egipto|Egitto|Egito
Egyptian|égyptien/égyptienne|ägyptisch|egipcio/egipcia|egiziano/egiziana|egípcio/egípcia
England|Angleterre|England|Inglaterra|Inghilterra|Inglaterra
English|anglais/anglaise|englisch|inglés/inglesa|inglese|inglês/inglesa
Europe|Europe|Europa|Europa|Europa|Europa
European Union/EU|Union européenne/UE|Europäische Union/EU|Unión Europea/UE|Unione europea/UE|União Europeia/UE
Finland|Finlande|Finnland|Finlandia|Finlandia|Finlândia
France|France|Frankreich|Francia|Francia|França
French|français/française|französisch/Franzose|francés/francesa|francese|francês/francesa
Germany|Allemagne|Deutschland|Alemania|Germania|Alemanha
German|allemand/allemande|deutsch/Deutsche|alemán/alemana|tedesco/tedesca|alemão/alemã
Greece|Grèce|Griechenland|Grecia|Grecia|Grécia
Greek|grec/grecque|griechisch|griego/griega|greco/greca|grego/grega
Hungary|Hongrie|Ungarn|Hungría|Ungheria|Hungria
India|Inde|Indien|India|India|Índia
Indian|indien/indienne|indisch|indio/india/hindú|indiano/indiana|indiano/indiana
Indonesia|Indonésie|Indonesien|Indonesia|Indonesia|Indonésia
Iran|Iran|Iran|Irán|Iran|Irã/Irão
Iraq|Irak|Irak|Irak|Iraq|Iraque
Ireland|Irlande|Irland|Irlanda|Irlanda|Irlanda
Israel|Israël|Israel|Israel|Israele|Israel
Italy|Italie|Italien|Italia|Italia|Itália
Italian|italien/italienne|italienisch|italiano/italiana|italiano/italiana|italiano/italiana
Japan|Japon|Japan|Japón|Giappone|Japão
Japanese|japonais/japonaise|japanisch|japonés/japonesa|giapponese|japonês/japonesa
Jordan|Jordanie|Jordanien|Jordania|Giordania|Jordânia
Lebanon|Liban|Libanon|Líbano|Libano|Líbano
Libya|Libye|Libyen|Libia|Libia|Líbia
Mexico|Mexique|Mexiko|México|Messico|México
Morocco|Maroc|Marokko|Marruecos|Marocco|Marrocos
Netherlands/Holland|Pays-Bas/Hollande|Niederlande/Holland|Países Bajos/Holanda|Paesi Bassi/Olanda|Países Baixos/Holanda
Dutch|néerlandais/néerlandaise/hollandais|niederländisch|neerlandés/holandés|olandese|holandês/neerlandês
New Zealand|Nouvelle-Zélande|Neuseeland|Nueva Zelanda|Nuova Zelanda|Nova Zelândia
Norway|Norvège|Norwegen|Noruega|Norvegia|Noruega
Pakistan|Pakistan|Pakistan|Pakistán|Pakistan|Paquistão
Palestine|Palestine|Palästina|Palestina|Palestina|Palestina
Philippines|Philippines|Philippinen|Filipinas|Filippine|Filipinas
Poland|Pologne|Polen|Polonia|Polonia|Polónia/Polônia
Polish|polonais/polonaise|polnisch|polaco/polaca|polacco/polacca|polonês/polaco
Portugal|Portugal|Portugal|Portugal|Portogallo|Portugal
Russia|Russie|Russland|Rusia|Russia|Rússia
Russian|russe|russisch/Russe|ruso/rusa|russo/russa|russo/russa
Saudi Arabia|Arabie saoudite|Saudi-Arabien|Arabia Saudita|Arabia Saudita|Arábia Saudita
Scotland|Écosse|Schottland|Escocia|Scozia|Escócia
South Africa|Afrique du Sud|Südafrika|Sudáfrica|Sudafrica|África do Sul
South Korea|Corée du Sud|Südkorea|Corea del Sur|Corea del Sud|Coreia do Sul
North Korea|Corée du Nord|Nordkorea|Corea del Norte|Corea del Nord|Coreia do Norte
Korea|Corée|Korea|Corea|Corea|Coreia
Spain|Espagne|Spanien|España|Spagna|Espanha
Spanish|espagnol/espagnole|spanisch|español/española|spagnolo/spagnola|espanhol/espanhola
Sweden|Suède|Schweden|Suecia|Svezia|Suécia
Swedish|suédois/suédoise|schwedisch|sueco/sueca|svedese|sueco/sueca
Switzerland|Suisse|Schweiz|Suiza|Svizzera|Suíça
Swiss|suisse|schweizerisch/Schweizer|suizo/suiza|svizzero/svizzera|suíço/suíça
Syria|Syrie|Syrien|Siria|Siria|Síria
Thailand|Thaïlande|Thailand|Tailandia|Thailandia|Tailândia
Tunisia|Tunisie|Tunesien|Túnez|Tunisia|Tunísia
Turkey|Turquie|Türkei|Turquía|Turchia|Turquia
Turkish|turc/turque|türkisch|turco/turca|turco/turca|turco/turca
Ukraine|Ukraine|Ukraine|Ucrania|Ucraina|Ucrânia
United States/US/USA/America|États-Unis/Amérique|Vereinigte Staaten/Vereinigten Staaten/USA/Amerika|Estados Unidos/EE.UU./América|Stati Uniti/America|Estados Unidos/EUA/América
American|américain/américaine|amerikanisch/Amerikaner|estadounidense/americano/americana|americano/americana|americano/americana/estadunidense
Wales|pays de Galles|Wales|Gales|Galles|País de Gales
Welsh|gallois/galloise|walisisch|galés/galesa|gallese|galês/galesa
Zimbabwe|Zimbabwe|Simbabwe|Zimbabue|Zimbabwe|Zimbábue
Africa|Afrique|Afrika|África|Africa|África
African|africain/africaine|afrikanisch|africano/africana|africano/africana|africano/africana
Asia|Asie|Asien|Asia|Asia|Ásia
Middle East|Moyen-Orient/Proche-Orient|Nahen Osten/Nahost/Mittlerer Osten|Oriente Medio/Oriente Próximo|Medio Oriente|Oriente Médio/Médio Oriente
Athens|Athènes|Athen|Atenas|Atene|Atenas
Beijing/Peking|Pékin/Beijing|Peking/Beijing|Pekín/Beijing|Pechino|Pequim
Berlin|Berlin|Berlin|Berlín|Berlino|Berlim
Brussels|Bruxelles|Brüssel|Bruselas|Bruxelles|Bruxelas
Cairo|Le Caire|Kairo|El Cairo|Il Cairo|Cairo
Copenhagen|Copenhague|Kopenhagen|Copenhague|Copenaghen|Copenhaga/Copenhague
Geneva|Genève|Genf|Ginebra|Ginevra|Genebra
Jerusalem|Jérusalem|Jerusalem|Jerusalén|Gerusalemme|Jerusalém
Lisbon|Lisbonne|Lissabon|Lisboa|Lisbona|Lisboa
London|Londres|London|Londres|Londra|Londres
Madrid|Madrid|Madrid|Madrid|Madrid|Madrid
Moscow|Moscou|Moskau|Moscú|Mosca|Moscovo/Moscou
Munich|Munich|München|Múnich|Monaco di Baviera|Munique
New York|New York|New York|Nueva York|New York|Nova Iorque/Nova York
Paris|Paris|Paris|París|Parigi|Paris
Rome|Rome|Rom|Roma|Roma|Roma
Tokyo|Tokyo|Tokio|Tokio|Tokyo|Tóquio
Vienna|Vienne|Wien|Viena|Vienna|Viena
Warsaw|Varsovie|Warschau|Varsovia|Varsavia|Varsóvia
Washington|Washington|Washington|Washington|Washington|Washington
Sydney|Sydney|Sydney|Sídney/Sydney|Sydney|Sydney
Canberra|Canberra|Canberra|Canberra|Canberra|Camberra/Canberra
Melbourne|Melbourne|Melbourne|Melbourne|Melbourne|Melbourne
Kabul|Kaboul|Kabul|Kabul|Kabul|Cabul
Kashmir|Cachemire|Kaschmir|Cachemira|Kashmir|Caxemira
New South Wales|Nouvelle-Galles du Sud|New South Wales/Neusüdwales|Nueva Gales del Sur|Nuovo Galles del Sud|Nova Gales do Sul
Tasmania|Tasmanie|Tasmanien|Tasmania|Tasmania|Tasmânia
Western Australia|Australie-Occidentale|Westaustralien|Australia Occidental|Australia Occidentale|Austrália Ocidental
South Australia|Australie-Méridionale|Südaustralien|Australia Meridional|Australia Meridionale|Austrália Meridional
Northern Territory|Territoire du Nord|Northern Territory/Nordterritorium|Territorio del Norte|Territorio del Nord|Território do Norte
AIDS|sida|Aids|sida|AIDS|SIDA/Aids
HIV|VIH|HIV|VIH|HIV|HIV/VIH
WHO/World Health Organization|OMS/Organisation mondiale de la santé|WHO/Weltgesundheitsorganisation|OMS/Organización Mundial de la Salud|OMS/Organizzazione mondiale della sanità|OMS/Organização Mundial da Saúde
IMF/International Monetary Fund|FMI/Fonds monétaire international|IWF/Internationaler Währungsfonds|FMI/Fondo Monetario Internacional|FMI/Fondo monetario internazionale|FMI/Fundo Monetário Internacional
World Bank|Banque mondiale|Weltbank|Banco Mundial|Banca mondiale|Banco Mundial
Gaza|Gaza|Gaza|Gaza|Gaza|Gaza
West Bank|Cisjordanie|Westjordanland|Cisjordania|Cisgiordania|Cisjordânia
United Nations/UN|Nations unies/ONU|Vereinte Nationen/UNO/UN|Naciones Unidas/ONU|Nazioni Unite/ONU|Nações Unidas/ONU
NATO|OTAN|NATO|OTAN|NATO|OTAN
Red Cross|Croix-Rouge|Rotes Kreuz/Roten Kreuz|Cruz Roja|Croce Rossa|Cruz Vermelha
White House|Maison Blanche|Weißes Haus/Weißen Haus|Casa Blanca|Casa Bianca|Casa Branca
Pentagon|Pentagone|Pentagon|Pentágono|Pentagono|Pentágono
Parliament|Parlement|Parlament|Parlamento|Parlamento|Parlamento
Senate|Sénat|Senat|Senado|Senato|Senado
Congress|Congrès|Kongress|Congreso|Congresso|Congresso
Government|Gouvernement|Regierung|Gobierno|Governo|Governo
Prime Minister|Premier ministre/Première ministre|Premierminister/Premierministerin/Ministerpräsident|primer ministro/primera ministra|primo ministro|primeiro-ministro/primeira-ministra
President|président/présidente|Präsident/Präsidentin|presidente/presidenta|presidente|presidente/presidenta
Minister|ministre|Minister/Ministerin|ministro/ministra|ministro|ministro/ministra
State|État/Etat|Staat|Estado|Stato|Estado
Christmas Eve|veille de Noël/réveillon de Noël|Heiligabend/Heiligen Abend|Nochebuena|vigilia di Natale|véspera de Natal
New Year's Eve|Saint-Sylvestre/réveillon du Nouvel An/veille du Nouvel An/veille du jour de l'An|Silvester/Silvesterabend/Neujahrsabend|Nochevieja|San Silvestro/vigilia di Capodanno|véspera de Ano Novo/réveillon de Ano Novo
New Year|Nouvel An/Nouvel an|Neujahr/neue Jahr|Año Nuevo|Capodanno/anno nuovo|Ano Novo
Christmas|Noël|Weihnachten|Navidad|Natale|Natal
Islamic|islamique|islamisch|islámico/islámica|islamico/islamica|islâmico/islâmica
Muslim|musulman/musulmane|muslimisch/Muslim/Muslime|musulmán/musulmana|musulmano/musulmana|muçulmano/muçulmana
Christian|chrétien/chrétienne|christlich/Christ/Christen|cristiano/cristiana|cristiano/cristiana|cristão/cristã
Jewish|juif/juive|jüdisch|judío/judía|ebreo/ebraico|judeu/judaico
Arab|arabe|arabisch/Araber|árabe|arabo/araba|árabe
Palestinian|palestinien/palestinienne|palästinensisch/Palästinenser|palestino/palestina|palestinese|palestino/palestina
Israeli|israélien/israélienne|israelisch/Israeli|israelí|israeliano/israeliana|israelense/israelita
Australian|australien/australienne|australisch/Australier|australiano/australiana|australiano/australiana|australiano/australiana";

/// One name and its folded forms per language.
pub struct Entry {
    forms: [Vec<String>; 6],
}

impl Entry {
    /// Folded forms in `lang` (empty when the table has no such column).
    pub fn forms(&self, lang: &str) -> &[String] {
        COLUMNS
            .iter()
            .position(|c| *c == lang)
            .map_or(&[][..], |i| &self.forms[i][..])
    }

    /// Every folded form in every language.
    pub fn all_forms(&self) -> impl Iterator<Item = &String> {
        self.forms.iter().flatten()
    }
}

pub fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        TABLE
            .lines()
            .map(|line| {
                let mut cells = line.split('|');
                Entry {
                    forms: std::array::from_fn(|_| {
                        cells
                            .next()
                            .unwrap_or_default()
                            .split('/')
                            .map(|f| fold(f.trim()))
                            .filter(|f| !f.is_empty())
                            .collect()
                    }),
                }
            })
            .collect()
    })
}

/// Whether folded `text` contains the folded phrase at word boundaries.
pub fn contains_phrase(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_has_all_columns() {
        for line in TABLE.lines() {
            assert_eq!(line.split('|').count(), COLUMNS.len(), "{line}");
        }
        let beijing = entries()
            .iter()
            .find(|e| e.forms("en").contains(&"beijing".to_string()))
            .unwrap();
        assert!(beijing.forms("fr").contains(&"pekin".to_string()));
        assert!(beijing.forms("de").contains(&"peking".to_string()));
        assert!(beijing.forms("xx").is_empty());
    }

    #[test]
    fn phrases_match_whole_words() {
        assert!(contains_phrase("les etats-unis ont", "etats-unis"));
        assert!(!contains_phrase("unionist", "union"));
    }
}
