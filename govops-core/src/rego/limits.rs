//! Bounds on untrusted Rego: time, depth and the size of what one builtin builds.
//!
//! A policy's rules are code from another team, run on the governed call's own thread, so they
//! must not be able to stop, stall or exhaust the host:
//! - time: regorus's own cooperative timer, checked at every call, loop step and comprehension
//!   (limit [`TIME_LIMIT`]);
//! - depth: regorus checks the timer at every function call, and this module's clock says the
//!   time is up when the thread's stack runs low, so a recursive function stops with an error
//!   well before a stack overflow (which Rust cannot catch: it aborts the process). A rule that
//!   recurses is refused by regorus itself; expressions nest at most 32 deep in its parser;
//! - memory: regorus bounds memory only with its own global allocator, which a library cannot
//!   impose on its host; what a builtin can build from a few bytes of source (`numbers.range`,
//!   `numbers.range_step`) is capped at [`RANGE_MAX`] elements, and whatever else grows does so
//!   one step at a time between timer checks, so within the time limit.
//!
//! A panic inside the evaluator is caught and reported as a failure of the rules.

use std::cell::Cell;
use std::num::NonZeroU32;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use regorus::Value;
use regorus::utils::limits::{ExecutionTimerConfig, LimitError, TimeSource};

/// The longest one evaluation of a rule set (both rules, one call) may run.
pub const TIME_LIMIT: Duration = Duration::from_millis(100);

/// The most numbers `numbers.range` and `numbers.range_step` may return.
pub const RANGE_MAX: u64 = 100_000;

/// Stack kept free below the deepest point an evaluation may reach: what regorus may use
/// between two timer checks (expressions nest at most 32 deep) and what unwinding the error
/// needs.
const STACK_RESERVE: usize = 512 << 10;

/// The most stack one evaluation may use, whatever its thread has: a recursion stops there.
/// regorus wraps the error at every level of a recursion and, when `RUST_BACKTRACE` is set,
/// anyhow captures a backtrace of the whole stack each time, so unwinding costs the square of the
/// depth (5 s for an 8 MiB stack): 1 MiB keeps that under 0.1 s, and rules that do not recurse
/// nest at most 32 expressions deep.
const EVAL_STACK_MAX: usize = 1 << 20;

/// Below this much free stack at the start, rules run on a thread of their own.
const STACK_MIN: usize = 1 << 20;

/// The stack of that thread.
const EVAL_STACK: usize = 16 << 20;

thread_local! {
    /// The lowest stack address the running evaluation may reach; 0 outside an evaluation.
    static FLOOR: Cell<usize> = const { Cell::new(0) };
    /// Whether the running evaluation reached it.
    static TOO_DEEP: Cell<bool> = const { Cell::new(false) };
}

/// Why the rules did not decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// They ran past [`TIME_LIMIT`].
    Time,
    /// They recursed past the stack the evaluation may use.
    Depth,
    /// The evaluator panicked.
    Panic,
    /// No thread could be started for them.
    Thread,
    /// Another component set regorus's clock: no limit could be enforced, so they did not run.
    Unbounded,
}

impl Failure {
    /// What happened, for a policy problem or a span event.
    pub(crate) fn message(&self) -> String {
        match self {
            Failure::Time => format!(
                "the rules ran longer than the limit of {} ms",
                TIME_LIMIT.as_millis()
            ),
            Failure::Depth => {
                "the rules nest calls deeper than the limit (a recursive function?)".to_owned()
            }
            Failure::Panic => "the rules made the Rego evaluator fail (it panicked)".to_owned(),
            Failure::Thread => "no thread could be started to evaluate the rules".to_owned(),
            Failure::Unbounded => "the rules cannot be run within limits: another component of this process set regorus's clock".to_owned(),
        }
    }
}

/// The clock regorus's timer reads: real time, except that an evaluation whose stack runs low
/// is told its time is up.
struct Clock;

impl TimeSource for Clock {
    fn now(&self) -> Option<Duration> {
        static ANCHOR: OnceLock<Instant> = OnceLock::new();
        let floor = FLOOR.with(Cell::get);
        // Once too deep, the time stays up: regorus swallows some errors (`not f(x)`, a function
        // with several bodies) and would otherwise go down again, as deep, many times.
        if floor != 0 && (TOO_DEEP.with(Cell::get) || stack_address() < floor) {
            TOO_DEEP.with(|d| d.set(true));
            // Far past any start: the timer's check fails at once.
            return Some(Duration::from_secs(u64::MAX >> 2));
        }
        Some(ANCHOR.get_or_init(Instant::now).elapsed())
    }
}

static CLOCK: Clock = Clock;
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Whether this module's clock is regorus's: without it there is no limit of time or depth, and
/// rules must not run. regorus built without `std` has no clock of its own and takes one clock
/// for the process; another component that set its own first would leave the rules unbounded.
pub(crate) fn installed() -> bool {
    *INSTALLED.get_or_init(|| regorus::utils::limits::set_time_source(&CLOCK).is_ok())
}

/// The timer every engine is given: the limit, checked at every unit of work (the check is how
/// the depth is bounded too).
pub(crate) fn timer() -> ExecutionTimerConfig {
    ExecutionTimerConfig {
        limit: TIME_LIMIT,
        check_interval: NonZeroU32::MIN,
    }
}

/// The longest string `concat`, `replace`, `strings.replace_n` and `sprintf` may build: 1 MiB.
pub const STRING_MAX: usize = 1 << 20;

/// The widest field `sprintf` may pad to.
pub const WIDTH_MAX: usize = 10_000;

/// Adds the capped builtins to `engine`.
pub(crate) fn cap_builtins(engine: &mut regorus::Engine) -> Result<(), String> {
    let mut add = |name: &str, args: u8, f: fn(Vec<Value>) -> anyhow::Result<Value>| {
        engine
            .add_extension(name.to_owned(), args, Box::new(f))
            .map_err(|e| e.to_string())
    };
    add("numbers.range", 2, range)?;
    add("numbers.range_step", 3, range_step)?;
    // These multiply what they are given (a thousand copies of a 1 MiB string is one call, with
    // no timer check inside): the size of what they would build is checked first, then the
    // builtin itself runs in an engine of its own.
    add("concat", 2, |args| sized("concat", args, concat_size))?;
    add("replace", 3, |args| sized("replace", args, replace_size))?;
    add("strings.replace_n", 2, |args| {
        sized("strings.replace_n", args, replace_n_size)
    })?;
    add("sprintf", 2, |args| sized("sprintf", args, sprintf_size))
}

fn text(value: Option<&Value>) -> usize {
    value
        .and_then(|v| v.as_string().ok())
        .map_or(0, |s| s.len())
}

fn concat_size(args: &[Value]) -> usize {
    let delimiter = text(args.first());
    let items: Vec<&Value> = match args.get(1) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Set(items)) => items.iter().collect(),
        _ => Vec::new(),
    };
    items.iter().fold(0usize, |total, item| {
        total
            .saturating_add(text(Some(item)))
            .saturating_add(delimiter)
    })
}

/// An upper bound: every match (every gap, for an empty pattern) replaced.
fn replace_bound(len: usize, old: usize, new: usize) -> usize {
    let matches = len.checked_div(old).unwrap_or(len.saturating_add(1));
    matches.saturating_mul(new).saturating_add(len)
}

fn replace_size(args: &[Value]) -> usize {
    replace_bound(text(args.first()), text(args.get(1)), text(args.get(2)))
}

fn replace_n_size(args: &[Value]) -> usize {
    let len = text(args.get(1));
    let Some(Value::Object(patterns)) = args.first() else {
        return len;
    };
    patterns.iter().fold(len, |bound, (old, new)| {
        bound.max(replace_bound(len, text(Some(old)), text(Some(new))))
    })
}

/// What the format alone adds: each field's width (the arguments are already held).
fn sprintf_size(args: &[Value]) -> usize {
    let Some(format) = args.first().and_then(|v| v.as_string().ok()) else {
        return 0;
    };
    let mut widest = 0usize;
    let mut total = format.len();
    for field in format.split('%').skip(1) {
        let digits: String = field
            .trim_start_matches('.')
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        // Above WIDTH_MAX, however many digits: u32 arithmetic in regorus would overflow.
        let width = if digits.len() > 9 {
            usize::MAX
        } else {
            digits.parse::<usize>().unwrap_or(0)
        };
        widest = widest.max(width);
        total = total.saturating_add(width);
    }
    if widest > WIDTH_MAX {
        usize::MAX
    } else {
        total
    }
}

/// Runs builtin `name` on `args` when what it would build is within [`STRING_MAX`].
fn sized(name: &str, args: Vec<Value>, size: fn(&[Value]) -> usize) -> anyhow::Result<Value> {
    let bound = size(&args);
    if bound > STRING_MAX {
        anyhow::bail!(
            "{name} would build more than the limit of {STRING_MAX} bytes (or pad wider than {WIDTH_MAX})"
        );
    }
    // The builtin itself, in an engine without these extensions.
    let call = (0..args.len())
        .map(|i| format!("input[{i}]"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut engine = regorus::Engine::new();
    engine.set_execution_timer_config(timer());
    engine.add_policy(
        "builtin.rego".to_owned(),
        format!("package builtin\nresult := {name}({call})\n"),
    )?;
    engine.set_input(Value::from(args));
    engine.eval_rule("data.builtin.result".to_owned())
}

fn range(args: Vec<Value>) -> anyhow::Result<Value> {
    numbers("numbers.range", &args, 1)
}

fn range_step(args: Vec<Value>) -> anyhow::Result<Value> {
    let step = whole("numbers.range_step", args.get(2))?;
    if step <= 0 {
        anyhow::bail!("numbers.range_step: the step must be above 0");
    }
    numbers("numbers.range_step", &args, step)
}

fn whole(name: &str, value: Option<&Value>) -> anyhow::Result<i64> {
    value
        .and_then(|v| v.as_i64().ok())
        .ok_or_else(|| anyhow::anyhow!("{name} takes whole numbers"))
}

/// From the first argument to the second, both included, by `step` (up or down), as OPA does;
/// refused above [`RANGE_MAX`] numbers.
fn numbers(name: &str, args: &[Value], step: i64) -> anyhow::Result<Value> {
    let (from, to) = (whole(name, args.first())?, whole(name, args.get(1))?);
    let span = (i128::from(to) - i128::from(from)).unsigned_abs();
    let count = span / u128::from(step.unsigned_abs()) + 1;
    if count > u128::from(RANGE_MAX) {
        anyhow::bail!("{name} of {count} numbers is more than the limit of {RANGE_MAX}");
    }
    let step = if to < from { -step } else { step };
    let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut n = from;
    for _ in 0..count {
        out.push(Value::from(n));
        n = n.saturating_add(step);
    }
    Ok(Value::from(out))
}

/// What a regorus error means, when it is one of the limits.
pub(crate) fn limit_of(error: &anyhow::Error) -> Option<Failure> {
    if TOO_DEEP.with(Cell::get) {
        return Some(Failure::Depth);
    }
    let timed_out = matches!(
        error.downcast_ref::<LimitError>(),
        Some(LimitError::TimeLimitExceeded { .. })
    ) || error.to_string().contains("exceeded time limit");
    timed_out.then_some(Failure::Time)
}

/// An address on the current stack (stacks grow down on every platform govops runs on).
#[inline(never)]
fn stack_address() -> usize {
    let here = 0u8;
    std::ptr::from_ref(std::hint::black_box(&here)) as usize
}

/// The lowest address of the current thread's stack, where the platform says.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
fn stack_low() -> Option<usize> {
    // SAFETY: `attr` is initialised by pthread_getattr_np before it is read and destroyed once;
    // the out-pointers are valid locals. This is how std finds the guard page of a thread.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &raw mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let got = libc::pthread_attr_getstack(&raw const attr, &raw mut addr, &raw mut size);
        libc::pthread_attr_destroy(&raw mut attr);
        (got == 0 && !addr.is_null()).then_some(addr as usize)
    }
}

/// The lowest address of the current thread's stack, where the platform says.
#[cfg(target_os = "macos")]
#[allow(unsafe_code)]
fn stack_low() -> Option<usize> {
    // SAFETY: both calls only read the current thread's attributes.
    unsafe {
        let thread = libc::pthread_self();
        let top = libc::pthread_get_stackaddr_np(thread) as usize;
        top.checked_sub(libc::pthread_get_stacksize_np(thread))
    }
}

/// Unknown here: rules run on a thread whose stack govops sized.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
fn stack_low() -> Option<usize> {
    None
}

thread_local! {
    /// This thread's stack bottom, asked once: glibc reads `/proc/self/maps` for the main thread.
    static LOW: Option<usize> = stack_low();
}

/// Runs `evaluate` with the depth bound in force: on this thread when its stack has room, else on
/// a thread of its own with a stack of known size.
pub(crate) fn bounded<R: Send>(evaluate: impl FnOnce() -> R + Send) -> Result<R, Failure> {
    if !installed() {
        return Err(Failure::Unbounded);
    }
    let here = stack_address();
    match LOW.with(|low| *low) {
        Some(low) if here.saturating_sub(low) >= STACK_MIN => guarded(low, evaluate),
        _ => std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("govops-rego".to_owned())
                .stack_size(EVAL_STACK)
                .spawn_scoped(scope, || {
                    let low = stack_low()
                        .unwrap_or_else(|| stack_address().saturating_sub(EVAL_STACK - (64 << 10)));
                    guarded(low, evaluate)
                })
                .map_err(|_| Failure::Thread)?;
            worker.join().unwrap_or(Err(Failure::Panic))
        }),
    }
}

fn guarded<R>(low: usize, evaluate: impl FnOnce() -> R) -> Result<R, Failure> {
    let floor = low
        .saturating_add(STACK_RESERVE)
        .max(stack_address().saturating_sub(EVAL_STACK_MAX));
    let outer = FLOOR.with(|f| f.replace(floor));
    let outer_deep = TOO_DEEP.with(|d| d.replace(false));
    let result = catch_unwind(AssertUnwindSafe(evaluate));
    let deep = TOO_DEEP.with(|d| d.replace(outer_deep));
    FLOOR.with(|f| f.set(outer));
    match result {
        Ok(value) => Ok(value),
        Err(_) if deep => Err(Failure::Depth),
        Err(_) => Err(Failure::Panic),
    }
}

/// Whether the evaluation running on this thread reached its depth limit.
pub(crate) fn too_deep() -> bool {
    TOO_DEEP.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goes down until the clock says the time is up; returns the lowest stack address reached.
    #[inline(never)]
    fn descend() -> usize {
        let here = stack_address();
        if CLOCK
            .now()
            .is_some_and(|t| t > Duration::from_secs(1 << 40))
        {
            return here;
        }
        let mut pad = [0u8; 1024];
        std::hint::black_box(&mut pad);
        descend().min(here)
    }

    /// An error at every level of a deep recursion costs regorus a backtrace of the whole stack
    /// when RUST_BACKTRACE is set (anyhow captures one per error): the work grows with the square
    /// of the depth, 5 s on an 8 MiB main thread and four times that on a 16 MiB one. The depth
    /// an evaluation may reach is therefore bounded by its own limit, not by the thread's stack.
    #[test]
    fn an_evaluation_uses_at_most_its_own_stack_whatever_the_thread_has() {
        let used = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| {
                bounded(|| {
                    let start = stack_address();
                    start - descend()
                })
            })
            .expect("spawn")
            .join()
            .expect("join")
            .expect("bounded");
        assert!(
            used <= EVAL_STACK_MAX + (64 << 10),
            "{used} bytes of stack used, limit {EVAL_STACK_MAX}"
        );
    }
}
