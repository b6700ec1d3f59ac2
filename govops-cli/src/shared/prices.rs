//! The price table a command reads (`govops cost`, `govops models`, `govops check policy`), and
//! how its exact decimals are written.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use govops_core::PriceTable;
use govops_core::contract::vars;
use rust_decimal::Decimal;

use crate::shared::out::{err, esc};

/// Exit code for input that cannot be used.
const BAD_INPUT: u8 = 2;

/// The table: `--price-table`, else `GOVOPS_PRICE_TABLE`, else the embedded one.
pub(crate) fn table(path: Option<&Path>) -> Result<Arc<PriceTable>, ExitCode> {
    let from_env = std::env::var_os(vars::PRICE_TABLE).filter(|v| !v.is_empty());
    let (path, origin) = match (path, &from_env) {
        (Some(p), _) => (p, "--price-table"),
        (None, Some(p)) => (Path::new(p), vars::PRICE_TABLE),
        (None, None) => return Ok(PriceTable::embedded()),
    };
    let text = govops_core::input::read_text_bounded(path, govops_core::input::PRICE_TABLE_MAX)
        .map_err(|e| {
            err!(
                "govops: cannot read the price table ({origin}): {}",
                esc(&e.to_string())
            );
            ExitCode::from(BAD_INPUT)
        })?;
    PriceTable::parse(&text).map(Arc::new).map_err(|problems| {
        err!(
            "govops: {} ({origin}) is not a valid price table:",
            esc(&path.display().to_string())
        );
        for problem in problems {
            err!("  - {}", esc(&problem.to_string()));
        }
        ExitCode::from(BAD_INPUT)
    })
}

/// A price or cost as written: the exact decimal, without trailing zeros.
pub(crate) fn decimal(d: Decimal) -> String {
    d.normalize().to_string()
}
