//! What more than one subcommand uses: the one writer to the terminal ([`out`]), what a call's
//! cost may be ([`amount`]) and the price table a command reads ([`prices`]).

// First: `out` defines the `err!` macro the other modules use.
pub(crate) mod out;

pub(crate) mod amount;
pub(crate) mod prices;
