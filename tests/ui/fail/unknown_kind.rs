#[govops::governed(completion, model = "gpt-4o")]
fn f() {}

fn main() {}
