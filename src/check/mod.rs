//! Checks that make output publishable: text in the article that gives the model
//! orders ([`inject`]), answers that obeyed it instead of summarizing it
//! ([`off_article`](mod@off_article)), summary sentences linked to the article
//! sentences that support them ([`ground`](mod@ground)), and translations that keep
//! every number and name ([`translation`]). All lexical and deterministic: no second
//! model.

pub mod acronym;
pub mod currency;
pub mod gazetteer;
pub mod ground;
pub mod inject;
pub mod magnitude;
pub mod meaning;
pub mod off_article;
pub mod source;
pub mod terms;
pub mod translation;

pub use ground::{ground, SentenceSupport};
pub use inject::reads_as_orders;
pub use meaning::Meaning;
pub use off_article::off_article;
pub use source::{SourceIndex, SourceSentence};
pub use translation::{
    check_names, check_names_read_back, check_numbers, Check, SentenceCheck, TranslationChecks,
};
