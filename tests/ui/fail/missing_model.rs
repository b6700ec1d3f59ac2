#[govops::governed(chat, provider = "openai")]
fn f() {}

fn main() {}
