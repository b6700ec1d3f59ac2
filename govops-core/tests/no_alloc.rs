//! Pricing a call, and recording it in the ledger under keys it has seen, allocate nothing: counted
//! with a global allocator that this test binary (not the library) installs.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::str::FromStr;

use govops_core::{Dimension, Entry, Ledger, PriceTable, Pricing, ServiceTier, Usage};
use rust_decimal::Decimal;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged; the count is a thread-local
// side effect that allocates nothing itself.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: as the caller promised for `layout`.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: as the caller promised.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn pricing_and_recording_a_call_allocate_nothing() {
    let table = PriceTable::embedded();
    let usage = Usage {
        input: 210_000,
        output: 3000,
        cache_read: 50_000,
        cache_creation: 1000,
        cache_creation_1h: 500,
        reasoning: 700,
    };
    let models = [
        ("claude-3-7-sonnet-20250219", None),
        ("gemini-3-pro-preview", Some("vertex_ai-language-models")),
        ("vertex_ai-language-models/gemini-3-pro-preview", None),
        ("gpt-4o", Some("openai")),
        ("no-such-model", Some("openai")),
    ];
    let mut total = Decimal::ZERO;
    let mut priced = 0;
    let allocated = allocations_during(|| {
        for _ in 0..1000 {
            for (model, provider) in models {
                for tier in ServiceTier::ALL {
                    if let Pricing::Priced(cost) =
                        table.price(model, provider, &usage, tier).unwrap()
                    {
                        total += cost.total_usd;
                        priced += 1;
                    }
                }
            }
        }
    });
    assert_eq!(allocated, 0, "pricing allocated");
    assert_eq!(priced, 16_000);
    assert!(total > Decimal::ZERO);

    let ledger = Ledger::default();
    let entry = Entry {
        request: Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        session: Some("session-1"),
        user: Some("user-1"),
        cost_center: "CC-1234",
        model: "gpt-4o",
        provider: Some("openai"),
        usage,
        cost_usd: Some(Decimal::from_str("0.0123").unwrap()),
        at_unix_secs: 1_795_530_600,
    };
    ledger.record(&entry); // the first sight of each key allocates it
    let allocated = allocations_during(|| {
        for _ in 0..1000 {
            ledger.record(&entry);
        }
    });
    assert_eq!(allocated, 0, "recording under known keys allocated");
    assert_eq!(
        ledger
            .totals(Dimension::Session, "session-1")
            .unwrap()
            .calls,
        1001
    );
}
