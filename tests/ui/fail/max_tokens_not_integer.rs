#[govops::governed(chat, model = "gpt-4o", max_tokens = "512")]
fn f(prompt: &str) -> usize {
    prompt.len()
}

fn main() {}
