//! Prompt parity with llama.cpp / transformers: the chat template stored in each GGUF
//! model, rendered by abridge, must give byte for byte the prompt the reference engine
//! produced for the same messages (`tests/fixtures/greedy-*.json`).

mod common;

use abridge::model::template::{Message, PromptFormat};
use abridge::prompts;
use candle_core::quantized::gguf_file;

fn prompt_format(model_file: &str) -> PromptFormat {
    let path = common::model_path(model_file);
    let mut file = std::fs::File::open(&path).unwrap();
    let content =
        gguf_file::Content::read(&mut file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    PromptFormat::from_gguf(&content).unwrap()
}

fn messages(fixture: &serde_json::Value) -> Option<Vec<Message>> {
    let messages = fixture["messages"].as_array()?;
    Some(
        messages
            .iter()
            .map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
            .collect(),
    )
}

#[test]
fn chat_templates_match_reference_prompts() {
    let mut chats = 0;
    for name in common::greedy_fixtures() {
        let fixture = common::fixture(&name);
        let Some(messages) = messages(&fixture) else {
            continue;
        };
        let format = prompt_format(fixture["model_file"].as_str().unwrap());
        let PromptFormat::Chat(template) = format else {
            panic!("{name}: the model has no chat template");
        };
        let prompt = template.render(&messages, true).unwrap();
        assert_eq!(prompt, fixture["prompt"].as_str().unwrap(), "{name}");
        chats += 1;
    }
    assert!(chats > 0, "no chat fixtures");
}

#[test]
fn base_models_get_completion_prompts() {
    let mut bases = 0;
    for name in common::greedy_fixtures() {
        let fixture = common::fixture(&name);
        if !fixture["messages"].is_null() {
            continue;
        }
        let format = prompt_format(fixture["model_file"].as_str().unwrap());
        assert!(
            matches!(format, PromptFormat::Completion),
            "{name}: {format:?}"
        );
        bases += 1;
    }
    assert!(bases > 0, "no base-model fixtures");
}

/// abridge's own prompt wording, through the model's format, gives the reference prompt:
/// the whole path from article text to prompt string.
#[test]
fn abridge_prompts_match_reference_prompts() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let article = std::fs::read_to_string(root.join("seeds/000_57a6ad3420af089a.txt")).unwrap();
    // The translate fixtures translated the first paragraph after the headline.
    let paragraph = article.split("\n\n").nth(1).unwrap();
    for name in common::greedy_fixtures() {
        let fixture = common::fixture(&name);
        let summarize = name.ends_with("-summarize.json");
        assert!(summarize || name.ends_with("-translate-fr.json"), "{name}");
        let prompt = match prompt_format(fixture["model_file"].as_str().unwrap()) {
            PromptFormat::Chat(template) => {
                let messages = if summarize {
                    prompts::summarize(&article, 3)
                } else {
                    prompts::translate(paragraph, "French")
                };
                template.render(&messages, true).unwrap()
            }
            PromptFormat::Completion if summarize => prompts::summarize_completion(&article, 3),
            PromptFormat::Completion => prompts::translate_completion(paragraph, "French"),
        };
        assert_eq!(prompt, fixture["prompt"].as_str().unwrap(), "{name}");
    }
}
