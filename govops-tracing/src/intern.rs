//! The strings governed spans repeat on every call (model, provider, tool and agent names, the
//! service), interned once for the life of the process: a span carries a `&'static str`, so
//! neither an allocation (freed on the exporter's thread) nor a shared reference count (touched by
//! the caller and the exporter in turn, a cache line bouncing between cores) is paid per call.
//!
//! The set is bounded: names come from code and configuration, but should a workload invent them
//! without end (a model per request id, say), past the bound they are shared copies instead.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::StringValue;

/// How many distinct names are kept for the life of the process, and how many bytes at most.
const PERMANENT: usize = 4096;
const PERMANENT_BYTES: usize = 256 * 1024;

/// Per-thread copies past the permanent set; the table starts over when full.
const CAPACITY: usize = 1024;

type Table = HashMap<Box<str>, StringValue, foldhash::fast::RandomState>;
type Permanent = HashSet<&'static str, foldhash::fast::FixedState>;

/// The process-wide set, consulted only when a thread meets a name for the first time.
static GLOBAL: Mutex<(Permanent, usize)> = Mutex::new((
    HashSet::with_hasher(foldhash::fast::FixedState::with_seed(0x9e37_79b9)),
    0,
));

thread_local! {
    static SEEN: RefCell<HashSet<&'static str, foldhash::fast::FixedState>> = const {
        RefCell::new(HashSet::with_hasher(foldhash::fast::FixedState::with_seed(0x85eb_ca6b)))
    };
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The process's permanent copy of `s`, while the permanent set has room.
fn permanent(s: &str) -> Option<&'static str> {
    let local = SEEN
        .try_with(|seen| seen.try_borrow().ok().and_then(|seen| seen.get(s).copied()))
        .ok()
        .flatten();
    if local.is_some() {
        return local;
    }
    let found = {
        let mut global = GLOBAL.lock().unwrap_or_else(PoisonError::into_inner);
        match global.0.get(s) {
            Some(found) => *found,
            None => {
                if global.0.len() >= PERMANENT || global.1 + s.len() > PERMANENT_BYTES {
                    return None;
                }
                // Bounded above: at most PERMANENT names and PERMANENT_BYTES bytes are ever kept.
                let kept: &'static str = Box::leak(s.into());
                global.0.insert(kept);
                global.1 += s.len();
                kept
            }
        }
    };
    let _ = SEEN.try_with(|seen| {
        if let Ok(mut seen) = seen.try_borrow_mut() {
            seen.insert(found);
        }
    });
    Some(found)
}

fn fresh(s: &str) -> StringValue {
    StringValue::from(Arc::<str>::from(s))
}

/// The interned copy of `s`.
pub(crate) fn intern(s: &str) -> StringValue {
    if let Some(kept) = permanent(s) {
        return StringValue::from(kept);
    }
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
    fn past_the_permanent_set_names_are_still_right_and_bounded() {
        for i in 0..PERMANENT + CAPACITY + 10 {
            assert_eq!(intern(&format!("m-{i}")).as_str(), format!("m-{i}"));
        }
        let global = GLOBAL.lock().unwrap();
        assert!(global.0.len() <= PERMANENT && global.1 <= PERMANENT_BYTES);
        let len = TABLE.with(|t| t.borrow().len());
        assert!(len <= CAPACITY, "{len}");
    }
}
