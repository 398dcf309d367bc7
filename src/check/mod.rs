//! Checks that make output publishable: answers that obeyed the article instead of
//! summarizing it ([`inject`]), summary sentences linked to the article sentences
//! that support them ([`ground`]), and translations that keep every number and name
//! ([`translation`]). All lexical and deterministic: no second model.

pub mod acronym;
pub mod gazetteer;
pub mod ground;
pub mod inject;
pub mod meaning;
pub mod source;
pub mod terms;
pub mod translation;

pub use ground::{ground, SentenceSupport};
pub use inject::{off_article, reads_as_orders};
pub use meaning::Meaning;
pub use source::{SourceIndex, SourceSentence};
pub use translation::{
    check_names, check_names_read_back, check_numbers, Check, SentenceCheck, TranslationChecks,
};
