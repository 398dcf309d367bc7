//! What the fuzz targets share: the real models' tokenizers and chat templates,
//! loaded once from the models folder (`$ABRIDGE_MODELS`, default
//! `~/.cache/abridge/models`). A target whose model file is absent returns early.

use std::sync::OnceLock;

use abridge::model::gguf::Gguf;
use abridge::model::resolve::models_dir;
use abridge::model::template::PromptFormat;
use abridge::model::tokenizer::TextTokenizer;

pub const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const QWEN: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
pub const GEMMA3: &str = "gemma-3-270m-q4_k_m.gguf";

/// The header of a provisioned model, if it is there.
fn open(file: &str) -> Option<Gguf> {
    let path = models_dir().join(file);
    path.is_file()
        .then(|| Gguf::open(&path).expect("a provisioned model opens"))
}

fn tokenizer_of(file: &str) -> Option<TextTokenizer> {
    let g = open(file)?;
    Some(TextTokenizer::from_gguf(&g.content, None).expect("its tokenizer builds"))
}

/// SmolLM2's tokenizer (byte-level BPE), once.
pub fn smollm2() -> Option<&'static TextTokenizer> {
    static T: OnceLock<Option<TextTokenizer>> = OnceLock::new();
    T.get_or_init(|| tokenizer_of(SMOLLM2)).as_ref()
}

/// A test model's tokenizer, and which bytes its vocabulary can spell.
pub struct Tok {
    pub file: &'static str,
    pub tokenizer: TextTokenizer,
    /// Byte-level BPE only: whether byte `b` has a token. Some vocabularies lack a
    /// few (SmolLM2: 0x04 0x06 0x13 0x14 0x16 0x1d, and 0xc0 0xc1 0xf1 0xf2 0xf5..=0xff).
    pub byte_tokens: Option<[bool; 256]>,
}

impl Tok {
    /// Whether byte-level BPE can spell every byte of `text` (false for SentencePiece).
    pub fn spells(&self, text: &str) -> bool {
        self.byte_tokens
            .is_some_and(|has| text.bytes().all(|b| has[b as usize]))
    }
}

/// GPT-2's byte-level alphabet: printable bytes stand for themselves, the others
/// for the characters from U+0100 on, in order.
fn byte_char(b: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
    if printable(b) {
        return b as char;
    }
    let rank = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + rank).expect("below U+0200")
}

/// The tokenizers of every provisioned test model (SmolLM2 and Qwen: byte-level
/// BPE; gemma: SentencePiece), once.
pub fn tokenizers() -> &'static [Tok] {
    static T: OnceLock<Vec<Tok>> = OnceLock::new();
    T.get_or_init(|| {
        [SMOLLM2, QWEN, GEMMA3]
            .into_iter()
            .filter_map(|file| {
                let tokenizer = tokenizer_of(file)?;
                let byte_tokens = (file != GEMMA3).then(|| {
                    std::array::from_fn(|b| {
                        tokenizer
                            .token_id(&byte_char(b as u8).to_string())
                            .is_some()
                    })
                });
                Some(Tok {
                    file,
                    tokenizer,
                    byte_tokens,
                })
            })
            .collect()
    })
}

/// The chat templates of the provisioned models, once.
pub fn chat_templates() -> &'static [abridge::model::template::ChatTemplate] {
    static T: OnceLock<Vec<abridge::model::template::ChatTemplate>> = OnceLock::new();
    T.get_or_init(|| {
        [SMOLLM2, QWEN, GEMMA3]
            .into_iter()
            .filter_map(open)
            .filter_map(|g| match PromptFormat::from_gguf(&g.content) {
                Ok(PromptFormat::Chat(t)) => Some(t),
                _ => None,
            })
            .collect()
    })
}

/// Text and whitespace-free text, to compare what chunks cover.
pub fn squeeze(s: &str) -> String {
    s.split_whitespace().collect()
}
