#[govops::governed(agent, name = "planner", level = "debug")]
fn f() {}

fn main() {}
