//! A downstream crate whose only dependency is `govops`, under `#![no_implicit_prelude]`.
#![no_implicit_prelude]

#[::govops::governed(chat, model = "gpt-4o", provider = "openai", err)]
fn chat(prompt: &str) -> ::core::result::Result<usize, ::std::string::String> {
    ::core::result::Result::Ok(prompt.len())
}

#[::govops::governed(tool, name = "search")]
async fn search(query: &str) -> usize {
    query.len()
}

fn main() {
    let _ = chat("hi");
    let _ = search("q");
}
