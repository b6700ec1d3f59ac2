//! One module per subcommand of `govops`, each with its command-line arguments (clap) and a `run`
//! that returns the exit code. A new subcommand is a module here (a folder when it has parts, as
//! `check` and `report`) and one variant of `Command` in `main.rs`.

pub(crate) mod audit;
pub(crate) mod check;
pub(crate) mod cost;
pub(crate) mod models;
pub(crate) mod report;
