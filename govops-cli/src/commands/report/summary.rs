//! The report's figures, computed once from the calls and printed in every format.

use std::collections::{BTreeMap, HashMap};

use govops_core::money::ExactSum;
use rust_decimal::Decimal;

use super::input::{Call, CostIssue, FileSummary, Input, NONE, Names, Source, Sym};
use super::time;

/// Input:output token ratios above this are waste (contract section 4, `token_waste`).
pub(crate) const WASTE_RATIO: u64 = 5;

/// The dimensions costs are broken down by, in the report's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dimension {
    Model,
    Provider,
    Session,
    User,
    CostCenter,
    Day,
}

impl Dimension {
    /// The name in JSON keys (`by_model`) and CSV rows.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Dimension::Model => "model",
            Dimension::Provider => "provider",
            Dimension::Session => "session",
            Dimension::User => "user",
            Dimension::CostCenter => "cost_center",
            Dimension::Day => "day",
        }
    }

    /// The name for people.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Dimension::Model => "model",
            Dimension::Provider => "provider",
            Dimension::Session => "session",
            Dimension::User => "user",
            Dimension::CostCenter => "cost center",
            Dimension::Day => "day (UTC)",
        }
    }
}

/// Calls, exact cost and tokens of one key.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bucket {
    pub(crate) calls: u64,
    pub(crate) cost: ExactSum,
    /// Calls with a cost.
    pub(crate) priced_calls: u64,
    /// Calls that carry `unpriced_model`: their cost is absent, never counted as $0.
    pub(crate) unpriced_calls: u64,
    /// Calls whose cost is not accepted (negative, not finite, not a number, too large): counted
    /// in `calls`, left out of `cost`, and named in [`Summary::cost_problems`].
    pub(crate) rejected_calls: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
}

impl Bucket {
    fn add(&mut self, call: &Call, unpriced: bool) {
        self.calls += 1;
        if let Some(cost) = call.cost {
            self.cost.add(cost);
            self.priced_calls += 1;
        }
        self.unpriced_calls += u64::from(unpriced);
        self.rejected_calls += u64::from(call.cost_problem.is_some());
        self.input_tokens = self
            .input_tokens
            .saturating_add(call.input_tokens.unwrap_or(0));
        self.output_tokens = self
            .output_tokens
            .saturating_add(call.output_tokens.unwrap_or(0));
    }

    /// The exact sum of the costs; `None` when no call of the key has a cost and some are
    /// unpriced or have a cost that is not accepted (no cost, not $0).
    pub(crate) fn cost_usd(&self) -> Option<Decimal> {
        (self.priced_calls > 0 || (self.unpriced_calls == 0 && self.rejected_calls == 0))
            .then(|| self.cost.value().normalize())
    }

    pub(crate) fn cost_or_zero(&self) -> Decimal {
        self.cost.value()
    }
}

/// The `model_drift` trips of one model and provider.
pub(crate) struct DriftRow {
    pub(crate) model: String,
    pub(crate) provider: String,
    pub(crate) events: u64,
    /// The highest score among the trips that carry one.
    pub(crate) max_score: Option<f64>,
    pub(crate) first: Option<u64>,
    pub(crate) last: Option<u64>,
    /// The signals that moved, each with how many trips named it.
    pub(crate) signals: Vec<(String, u64)>,
}

/// The failover events of one kind, route and reason.
pub(crate) struct FailoverRow {
    pub(crate) kind: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) reason: String,
    pub(crate) events: u64,
    pub(crate) first: Option<u64>,
    pub(crate) last: Option<u64>,
}

/// Latency percentiles of one model (nearest rank).
pub(crate) struct LatencyRow {
    pub(crate) model: String,
    pub(crate) calls: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p95_ms: f64,
    pub(crate) max_ms: f64,
}

/// What was read but is not in the report.
#[derive(Debug, Default)]
pub(crate) struct Skipped {
    /// Audit `open` and `close` records.
    pub(crate) open_close: u64,
    /// Spans that are not governed.
    pub(crate) ungoverned_spans: u64,
    /// Telemetry spans of calls an audit log also holds, and repeated records.
    pub(crate) duplicates: u64,
    /// Calls before `--since` or from `--until` on.
    pub(crate) outside_window: u64,
    /// Calls without a time, left out because `--since` or `--until` was given.
    pub(crate) undated: u64,
}

/// Everything the report prints.
pub(crate) struct Summary {
    pub(crate) files: Vec<FileSummary>,
    pub(crate) warnings: Vec<String>,
    pub(crate) since: Option<u64>,
    pub(crate) until: Option<u64>,
    pub(crate) first: Option<u64>,
    pub(crate) last: Option<u64>,
    pub(crate) total: Bucket,
    /// The calls in the report whose cost is not accepted, each named by file and line: in
    /// `total.calls`, left out of every cost.
    pub(crate) cost_problems: Vec<CostIssue>,
    pub(crate) audit_calls: u64,
    pub(crate) telemetry_calls: u64,
    pub(crate) skipped: Skipped,
    /// Per dimension, in [`Dimension`]'s order: the keys by cost (highest first; days in
    /// date order).
    pub(crate) by: Vec<(Dimension, Vec<(String, Bucket)>)>,
    pub(crate) waste: Bucket,
    /// Per violation code, by calls.
    pub(crate) trips: Vec<(String, Bucket)>,
    pub(crate) drift: Vec<DriftRow>,
    pub(crate) failover: Vec<FailoverRow>,
    pub(crate) latency: Vec<LatencyRow>,
    /// Weekday (Monday first) × UTC hour.
    pub(crate) heatmap: [[Bucket; 24]; 7],
    /// Per hour since the epoch, for the cost over time.
    pub(crate) hourly: BTreeMap<u64, Bucket>,
}

fn sorted_by_cost(map: HashMap<Sym, Bucket>, names: &Names) -> Vec<(String, Bucket)> {
    let mut rows: Vec<(String, Bucket)> = map
        .into_iter()
        .map(|(sym, bucket)| (names.get(sym).to_owned(), bucket))
        .collect();
    rows.sort_by(|(ka, a), (kb, b)| {
        b.cost_or_zero()
            .cmp(&a.cost_or_zero())
            .then(b.calls.cmp(&a.calls))
            .then_with(|| ka.cmp(kb))
    });
    rows
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

/// A call's keys in the dimensions interned as symbols, in [`Dimension`]'s order (the day is
/// kept apart, by date).
const KEYED: usize = 5;

/// The sums kept while the calls are read, before they become the report's sorted rows.
#[derive(Default)]
struct Tally {
    total: Bucket,
    cost_problems: Vec<CostIssue>,
    audit_calls: u64,
    telemetry_calls: u64,
    first: Option<u64>,
    last: Option<u64>,
    by_sym: [HashMap<Sym, Bucket>; KEYED],
    by_day: BTreeMap<Option<u64>, Bucket>,
    waste: Bucket,
    trips: HashMap<Sym, Bucket>,
    drift: HashMap<(Sym, Sym), (DriftRow, HashMap<Sym, u64>)>,
    failover: HashMap<(Sym, Sym, Sym, Sym), FailoverRow>,
    latencies: HashMap<Sym, Vec<f64>>,
    heatmap: [[Bucket; 24]; 7],
    hourly: BTreeMap<u64, Bucket>,
}

impl Tally {
    /// Counts one call in the window; `unpriced` when it carries `unpriced_model`.
    fn add(&mut self, call: &Call, unpriced: bool, names: &Names) {
        self.total.add(call, unpriced);
        if let Some(issue) = &call.cost_problem {
            self.cost_problems.push((**issue).clone());
        }
        match call.source {
            Source::Audit => self.audit_calls += 1,
            Source::Telemetry => self.telemetry_calls += 1,
        }
        let keys = [
            call.model,
            call.provider,
            call.session,
            call.user,
            call.cost_center,
        ];
        for (map, key) in self.by_sym.iter_mut().zip(keys) {
            map.entry(key).or_default().add(call, unpriced);
        }
        self.by_day
            .entry(call.time.map(time::day_number))
            .or_default()
            .add(call, unpriced);
        if let Some(t) = call.time {
            widen(&mut self.first, &mut self.last, Some(t));
            let (weekday, hour) = time::weekday_hour(t);
            self.heatmap[weekday][hour].add(call, unpriced);
            self.hourly
                .entry(time::hour_number(t))
                .or_default()
                .add(call, unpriced);
        }
        if let (Some(input_tokens), Some(output_tokens)) = (call.input_tokens, call.output_tokens)
            && output_tokens > 0
            && u128::from(input_tokens) > u128::from(output_tokens) * u128::from(WASTE_RATIO)
        {
            self.waste.add(call, unpriced);
        }
        let mut codes = call.violations.clone();
        codes.sort_unstable();
        codes.dedup();
        for code in codes {
            self.trips.entry(code).or_default().add(call, unpriced);
        }
        self.add_drift(call, names);
        self.add_failovers(call, names);
        if let Some(ms) = call.latency_ms.filter(|ms| ms.is_finite())
            && call.model != NONE
        {
            self.latencies.entry(call.model).or_default().push(ms);
        }
    }

    /// The call's `model_drift` trips, under its model and provider.
    fn add_drift(&mut self, call: &Call, names: &Names) {
        for event in &call.drift {
            let (row, signals) = self
                .drift
                .entry((call.model, call.provider))
                .or_insert_with(|| {
                    (
                        DriftRow {
                            model: names.get(call.model).to_owned(),
                            provider: names.get(call.provider).to_owned(),
                            events: 0,
                            max_score: None,
                            first: None,
                            last: None,
                            signals: Vec::new(),
                        },
                        HashMap::new(),
                    )
                });
            row.events += 1;
            if let Some(score) = event.score {
                row.max_score = Some(row.max_score.map_or(score, |m| m.max(score)));
            }
            widen(&mut row.first, &mut row.last, event.time);
            for &signal in &event.signals {
                *signals.entry(signal).or_default() += 1;
            }
        }
    }

    /// The call's failover events, under their kind, route and reason.
    fn add_failovers(&mut self, call: &Call, names: &Names) {
        for event in &call.failovers {
            let row = self
                .failover
                .entry((event.kind, event.from, event.to, event.reason))
                .or_insert_with(|| FailoverRow {
                    kind: names.get(event.kind).to_owned(),
                    from: names.get(event.from).to_owned(),
                    to: names.get(event.to).to_owned(),
                    reason: names.get(event.reason).to_owned(),
                    events: 0,
                    first: None,
                    last: None,
                });
            row.events += 1;
            widen(&mut row.first, &mut row.last, event.time);
        }
    }
}

/// Every dimension's rows: keys by cost, days in date order (calls without a time last).
fn by_dimension(
    by_sym: [HashMap<Sym, Bucket>; KEYED],
    by_day: BTreeMap<Option<u64>, Bucket>,
    names: &Names,
) -> Vec<(Dimension, Vec<(String, Bucket)>)> {
    let [model, provider, session, user, cost_center] = by_sym;
    let days: Vec<(String, Bucket)> = by_day
        .into_iter()
        // Dated days first, in date order; calls without a time last.
        .map(|(day, bucket)| {
            (
                day.map_or_else(|| "(none)".to_owned(), time::day_text),
                bucket,
            )
        })
        .collect();
    let (dated, undated): (Vec<_>, Vec<_>) = days.into_iter().partition(|(day, _)| day != "(none)");
    vec![
        (Dimension::Model, sorted_by_cost(model, names)),
        (Dimension::Provider, sorted_by_cost(provider, names)),
        (Dimension::Session, sorted_by_cost(session, names)),
        (Dimension::User, sorted_by_cost(user, names)),
        (Dimension::CostCenter, sorted_by_cost(cost_center, names)),
        (Dimension::Day, dated.into_iter().chain(undated).collect()),
    ]
}

/// The trips by violation code, the most calls first.
fn trip_rows(trips: HashMap<Sym, Bucket>, names: &Names) -> Vec<(String, Bucket)> {
    let mut trips: Vec<(String, Bucket)> = trips
        .into_iter()
        .map(|(code, bucket)| (names.get(code).to_owned(), bucket))
        .collect();
    trips.sort_by(|(ka, a), (kb, b)| b.calls.cmp(&a.calls).then_with(|| ka.cmp(kb)));
    trips
}

/// The drift rows, the most trips first, each with its signals, the most named first.
fn drift_rows(
    drift: HashMap<(Sym, Sym), (DriftRow, HashMap<Sym, u64>)>,
    names: &Names,
) -> Vec<DriftRow> {
    let mut drift: Vec<DriftRow> = drift
        .into_values()
        .map(|(mut row, signals)| {
            row.signals = signals
                .into_iter()
                .map(|(s, n)| (names.get(s).to_owned(), n))
                .collect();
            row.signals
                .sort_by(|(ka, a), (kb, b)| b.cmp(a).then_with(|| ka.cmp(kb)));
            row
        })
        .collect();
    drift.sort_by(|a, b| {
        b.events
            .cmp(&a.events)
            .then_with(|| (&a.model, &a.provider).cmp(&(&b.model, &b.provider)))
    });
    drift
}

/// The failover rows, the most events first.
fn failover_rows(failover: HashMap<(Sym, Sym, Sym, Sym), FailoverRow>) -> Vec<FailoverRow> {
    let mut failover: Vec<FailoverRow> = failover.into_values().collect();
    failover.sort_by(|a, b| {
        b.events.cmp(&a.events).then_with(|| {
            (&a.kind, &a.from, &a.to, &a.reason).cmp(&(&b.kind, &b.from, &b.to, &b.reason))
        })
    });
    failover
}

/// The latency percentiles per model, the most calls first.
fn latency_rows(latencies: HashMap<Sym, Vec<f64>>, names: &Names) -> Vec<LatencyRow> {
    let mut latency: Vec<LatencyRow> = latencies
        .into_iter()
        .map(|(model, mut values)| {
            values.sort_by(f64::total_cmp);
            LatencyRow {
                model: names.get(model).to_owned(),
                calls: values.len() as u64,
                p50_ms: percentile(&values, 0.50),
                p95_ms: percentile(&values, 0.95),
                max_ms: values.last().copied().unwrap_or(0.0),
            }
        })
        .collect();
    latency.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.model.cmp(&b.model)));
    latency
}

impl Summary {
    /// The report of the calls in `[since, until)`.
    pub(crate) fn new(mut input: Input, since: Option<u64>, until: Option<u64>) -> Self {
        let duplicates = input.dedupe();
        let Input {
            names,
            calls,
            files,
            open_close,
            ungoverned_spans,
            warnings,
        } = input;
        let unpriced_sym = names.lookup("unpriced_model");
        let mut skipped = Skipped {
            open_close,
            ungoverned_spans,
            duplicates,
            ..Skipped::default()
        };
        let mut tally = Tally::default();
        let windowed = since.is_some() || until.is_some();
        for call in &calls {
            match call.time {
                None if windowed => {
                    skipped.undated += 1;
                    continue;
                }
                Some(t) if since.is_some_and(|s| t < s) || until.is_some_and(|u| t >= u) => {
                    skipped.outside_window += 1;
                    continue;
                }
                _ => {}
            }
            let unpriced = unpriced_sym.is_some_and(|u| call.violations.contains(&u));
            tally.add(call, unpriced, &names);
        }
        Summary {
            files,
            warnings,
            since,
            until,
            first: tally.first,
            last: tally.last,
            total: tally.total,
            cost_problems: tally.cost_problems,
            audit_calls: tally.audit_calls,
            telemetry_calls: tally.telemetry_calls,
            skipped,
            by: by_dimension(tally.by_sym, tally.by_day, &names),
            waste: tally.waste,
            trips: trip_rows(tally.trips, &names),
            drift: drift_rows(tally.drift, &names),
            failover: failover_rows(tally.failover),
            latency: latency_rows(tally.latencies, &names),
            heatmap: tally.heatmap,
            hourly: tally.hourly,
        }
    }

    /// Whether every sum is the exact sum of the costs as written (false only past 38 digits).
    pub(crate) fn exact(&self) -> bool {
        self.total.cost.is_exact()
    }

    /// The heatmap's highest cell.
    pub(crate) fn heatmap_max(&self) -> Decimal {
        self.heatmap
            .iter()
            .flatten()
            .map(Bucket::cost_or_zero)
            .max()
            .unwrap_or_default()
    }
}

fn widen(first: &mut Option<u64>, last: &mut Option<u64>, time: Option<u64>) {
    if let Some(t) = time {
        *first = Some(first.map_or(t, |f| f.min(t)));
        *last = Some(last.map_or(t, |l| l.max(t)));
    }
}

/// An exact amount as reports show it: `$0.0045`.
pub(crate) fn money(d: Decimal) -> String {
    format!("${}", d.normalize())
}

/// A bucket's cost as reports show it: the amount, or why there is none.
pub(crate) fn cost(bucket: &Bucket) -> String {
    match bucket.cost_usd() {
        Some(d) => money(d),
        None if bucket.unpriced_calls > 0 => "unpriced".to_owned(),
        None => "cost rejected".to_owned(),
    }
}
