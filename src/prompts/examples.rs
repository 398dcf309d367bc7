//! Example translations shown to the model before each sentence it translates
//! (few-shot): news sentences with a name, a number, a bound ("as many as"), a
//! negation and a unit's name, each translated by hand. They are the same for every
//! article, so the prefix cache computes them once per language. Languages without
//! examples are asked without them.

/// The English sentences, in order.
pub const ENGLISH: [&str; 3] = [
    "Police in Lagos said 12 people were injured when a bus overturned on Sunday.",
    "The World Bank said as many as 3,000 jobs could be lost, but the government has not \
     commented.",
    "Detectives from the fraud squad arrested a 45-year-old man in Manchester.",
];

/// The same sentences in `lang` (an ISO 639-1 code), if there are examples for it.
pub fn translated(lang: &str) -> Option<[&'static str; 3]> {
    Some(match lang {
        "fr" => [
            "La police de Lagos a indiqué que 12 personnes avaient été blessées dimanche \
             lorsqu'un bus s'est renversé.",
            "La Banque mondiale a déclaré que jusqu'à 3 000 emplois pourraient être \
             supprimés, mais le gouvernement ne s'est pas exprimé.",
            "Des enquêteurs de la brigade financière ont arrêté un homme de 45 ans à \
             Manchester.",
        ],
        "de" => [
            "Die Polizei in Lagos teilte mit, dass am Sonntag 12 Menschen verletzt wurden, \
             als ein Bus umkippte.",
            "Die Weltbank erklärte, dass bis zu 3.000 Arbeitsplätze verloren gehen könnten, \
             doch die Regierung hat sich nicht geäußert.",
            "Ermittler des Betrugsdezernats nahmen in Manchester einen 45-jährigen Mann fest.",
        ],
        "es" => [
            "La policía de Lagos informó que 12 personas resultaron heridas cuando un \
             autobús volcó el domingo.",
            "El Banco Mundial afirmó que podrían perderse hasta 3.000 empleos, pero el \
             gobierno no ha hecho comentarios.",
            "Detectives de la brigada de fraudes detuvieron a un hombre de 45 años en \
             Mánchester.",
        ],
        "it" => [
            "La polizia di Lagos ha riferito che 12 persone sono rimaste ferite quando un \
             autobus si è ribaltato domenica.",
            "La Banca mondiale ha dichiarato che potrebbero andare persi fino a 3.000 posti \
             di lavoro, ma il governo non ha commentato.",
            "Gli investigatori della squadra antifrode hanno arrestato un uomo di 45 anni a \
             Manchester.",
        ],
        "pt" => [
            "A polícia de Lagos disse que 12 pessoas ficaram feridas quando um ônibus \
             capotou no domingo.",
            "O Banco Mundial afirmou que até 3.000 empregos podem ser perdidos, mas o \
             governo não comentou.",
            "Detetives da brigada de fraudes prenderam um homem de 45 anos em Manchester.",
        ],
        "nl" => [
            "De politie in Lagos meldde dat 12 mensen gewond raakten toen zondag een bus \
             kantelde.",
            "De Wereldbank verklaarde dat tot 3.000 banen verloren kunnen gaan, maar de \
             regering heeft niet gereageerd.",
            "Rechercheurs van de fraudeafdeling hebben in Manchester een man van 45 jaar \
             aangehouden.",
        ],
        "ru" => [
            "Полиция Лагоса сообщила, что 12 человек получили ранения, когда в воскресенье \
             перевернулся автобус.",
            "Всемирный банк заявил, что могут быть потеряны до 3000 рабочих мест, однако \
             правительство пока не прокомментировало это.",
            "Детективы из отдела по борьбе с мошенничеством задержали в Манчестере мужчину \
             45 лет.",
        ],
        "el" => [
            "Η αστυνομία του Λάγος ανέφερε ότι 12 άνθρωποι τραυματίστηκαν όταν ανατράπηκε \
             ένα λεωφορείο την Κυριακή.",
            "Η Παγκόσμια Τράπεζα δήλωσε ότι έως και 3.000 θέσεις εργασίας ενδέχεται να \
             χαθούν, αλλά η κυβέρνηση δεν έχει σχολιάσει.",
            "Ντετέκτιβ της υπηρεσίας δίωξης απάτης συνέλαβαν έναν άνδρα 45 ετών στο \
             Μάντσεστερ.",
        ],
        "zh" => [
            "拉各斯警方表示，周日一辆公共汽车翻车，造成12人受伤。",
            "世界银行表示，可能有多达3,000个工作岗位流失，但政府尚未发表评论。",
            "反诈骗小组的侦探在曼彻斯特逮捕了一名45岁男子。",
        ],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{check_names, check_numbers};

    /// The examples pass the checks they teach: numbers and names kept.
    #[test]
    fn examples_pass_the_checks() {
        for lang in ["fr", "de", "es", "it", "pt", "nl", "ru", "el", "zh"] {
            let t = translated(lang).unwrap();
            for (en, x) in ENGLISH.iter().zip(t) {
                assert!(check_numbers(en, x, lang).passed, "{lang}: {x}");
                let names = check_names(en, x, lang);
                assert!(names.passed, "{lang}: {x}: {names:?}");
            }
        }
    }
}
