//! The strings governed spans repeat on every call (model, provider, tool and agent names),
//! interned per thread: a call reuses the shared copy instead of allocating its own, which would
//! then be freed on the exporter's thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use opentelemetry::StringValue;

/// Enough for every distinct value a process names; past it the table starts over, so a workload
/// with unbounded names (a model per request id, say) costs allocations, never unbounded memory.
const CAPACITY: usize = 1024;

type Table = HashMap<Box<str>, StringValue, foldhash::fast::RandomState>;

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

fn fresh(s: &str) -> StringValue {
    StringValue::from(Arc::<str>::from(s))
}

/// The shared copy of `s`.
pub(crate) fn intern(s: &str) -> StringValue {
    TABLE
        .try_with(|table| {
            let Ok(mut table) = table.try_borrow_mut() else {
                return fresh(s);
            };
            if let Some(value) = table.get(s) {
                return value.clone();
            }
            if table.len() >= CAPACITY {
                table.clear();
            }
            let value = fresh(s);
            table.insert(s.into(), value.clone());
            value
        })
        .unwrap_or_else(|_| fresh(s))
}

/// The shared copy of what `value` displays as, formatted without allocating when it is known.
pub(crate) fn intern_debug(value: &dyn fmt::Debug) -> StringValue {
    SCRATCH
        .try_with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                return fresh(&format!("{value:?}"));
            };
            scratch.clear();
            let _ = write!(scratch, "{value:?}");
            intern(&scratch)
        })
        .unwrap_or_else(|_| fresh(&format!("{value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_copy_and_differ_from_others() {
        let a = intern("gpt-4o");
        let b = intern_debug(&format_args!("gpt-4o"));
        assert_eq!(a.as_str(), "gpt-4o");
        assert_eq!(a.as_str().as_ptr(), b.as_str().as_ptr());
        assert_eq!(intern("claude").as_str(), "claude");
    }

    #[test]
    fn a_full_table_starts_over() {
        for i in 0..CAPACITY + 10 {
            assert_eq!(intern(&format!("m-{i}")).as_str(), format!("m-{i}"));
        }
        let len = TABLE.with(|t| t.borrow().len());
        assert!(len <= CAPACITY, "{len}");
    }
}
