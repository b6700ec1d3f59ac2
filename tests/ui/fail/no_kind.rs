#[govops::governed]
fn f() {}

fn main() {}
