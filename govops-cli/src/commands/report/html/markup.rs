//! The page's HTML pieces: escaping, money, times, the key tables and the stylesheet.

use std::fmt::Write as _;

use crate::commands::report::summary::{Bucket, cost};
use crate::commands::report::time;

/// Text for HTML, escaped; control characters written as `\u{..}` first, as in the terminal.
pub(super) fn esc(text: &str) -> String {
    let text = crate::shared::out::esc(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An instant to the second, or `-`.
pub(super) fn ts(t: Option<u64>) -> String {
    t.map_or_else(|| "-".to_owned(), time::short)
}

/// A table of keys (at most `top`) with their calls, cost and tokens.
pub(super) fn table_of(out: &mut String, title: &str, rows: &[(String, Bucket)], top: usize) {
    let _ = write!(
        out,
        "<table><thead><tr><th>{}</th><th>calls</th><th>cost</th><th>input tokens</th><th>output tokens</th><th>unpriced</th><th>cost rejected</th></tr></thead><tbody>",
        esc(title)
    );
    for (key, b) in rows.iter().take(top) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(key),
            b.calls,
            esc(&cost(b)),
            b.input_tokens,
            b.output_tokens,
            b.unpriced_calls,
            b.rejected_calls
        );
    }
    if rows.len() > top {
        let _ = write!(
            out,
            "<tr><td colspan=\"7\" class=\"note\">and {} more (all of them are in --format json and csv)</td></tr>",
            rows.len() - top
        );
    }
    out.push_str("</tbody></table>");
}

/// The page's only stylesheet, inline.
pub(super) const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1000px;padding:0 1rem;color:#1b1f24;background:#fff}\
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}\
.meta{color:#57606a;margin:.2rem 0}.note{color:#57606a;font-size:.9rem}\
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin-top:1.2rem}\
.card{border:1px solid #d0d7de;border-radius:6px;padding:.6rem 1rem;min-width:9rem}\
.card b{display:block;font-size:1.3rem}.card span{color:#57606a;font-size:.85rem}\
svg{max-width:100%;height:auto;display:block}\
table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}\
th,td{padding:.25rem .7rem;border-bottom:1px solid #d0d7de;text-align:right}\
td{white-space:nowrap}th:first-child,td:first-child{text-align:left}th{background:#f6f8fa}\
.legend{display:flex;align-items:center;gap:.4rem;font-size:.85rem;color:#57606a}\
.legend i{display:inline-block;width:1.4rem;height:.9rem;border:1px solid #d0d7de}";
