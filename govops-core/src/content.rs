//! Personal data and credentials in text: found, and redacted before anything is exported
//! (contract section 4: `pii_detected`, `secret_detected`).
//!
//! Detectors: email addresses, phone numbers (international `+` form and the North American
//! `(555) 123-4567` form), payment card numbers (13 to 19 digits passing the Luhn check, with the
//! CVV when one follows), IBANs (passing the ISO 13616 mod-97 check), US social security and UK
//! national insurance numbers; API keys and tokens of OpenAI, Anthropic, AWS, Google Cloud,
//! GitHub, Slack, Stripe, JWTs and PEM private keys. Each match becomes `[REDACTED:kind]`.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// What a detector finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Personal data.
    Pii,
    /// A credential.
    Secret,
}

struct Detector {
    name: &'static str,
    kind: Kind,
    /// The shape. When it has a group named `v`, only that group is the finding and is redacted;
    /// the rest of the match is context that is kept.
    pattern: &'static str,
    /// A check on the finding beyond its shape (a checksum), when the shape alone says too little.
    valid: Option<fn(&str) -> bool>,
}

/// The letters of a UK national insurance number's prefix: the first is not D, F, I, Q, U or V,
/// the second not D, F, I, O, Q, U or V (HMRC's rules; [`nino_ok`] checks the excluded pairs).
macro_rules! nino_prefix {
    () => {
        r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    };
}

const DETECTORS: [Detector; 16] = [
    Detector {
        name: "private_key",
        kind: Kind::Secret,
        pattern: r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
        valid: None,
    },
    Detector {
        name: "anthropic_key",
        kind: Kind::Secret,
        pattern: r"\bsk-ant-[A-Za-z0-9_-]{20,}",
        valid: None,
    },
    Detector {
        name: "openai_key",
        kind: Kind::Secret,
        // A legacy key is `sk-` and 48 base62 characters; a project, service account or admin key
        // is `sk-proj-`, `sk-svcacct-` or `sk-admin-` and a long base62 token with `_` and `-`.
        // Neither shape takes `sk-` and ordinary hyphenated words (`sk-learn-toolkit`), and
        // [`openai_ok`] wants the digits a random token has (`sk-proj-management-tools` has none).
        pattern: r"\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{32,})",
        valid: Some(openai_ok),
    },
    Detector {
        name: "stripe_key",
        kind: Kind::Secret,
        pattern: r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
        valid: None,
    },
    Detector {
        name: "aws_access_key",
        kind: Kind::Secret,
        pattern: r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        valid: None,
    },
    Detector {
        name: "gcp_api_key",
        kind: Kind::Secret,
        pattern: r"\bAIza[0-9A-Za-z_-]{35}",
        valid: None,
    },
    Detector {
        name: "github_token",
        kind: Kind::Secret,
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
        valid: None,
    },
    Detector {
        name: "slack_token",
        kind: Kind::Secret,
        pattern: r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
        valid: None,
    },
    Detector {
        name: "jwt",
        kind: Kind::Secret,
        pattern: r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        valid: None,
    },
    Detector {
        name: "email",
        kind: Kind::Pii,
        pattern: r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
        valid: None,
    },
    Detector {
        name: "iban",
        kind: Kind::Pii,
        pattern: r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b",
        valid: Some(iban_ok),
    },
    Detector {
        name: "card",
        kind: Kind::Pii,
        // A CVV written after the number (`4111 1111 1111 1111 123`) is taken with it, by the
        // optional group or within the 19 digits; [`card_ok`] then finds the card before it.
        pattern: r"\b[2-6](?:[ -]?\d){12,18}(?:[ -]\d{3,4})?\b",
        valid: Some(card_ok),
    },
    Detector {
        name: "us_ssn",
        kind: Kind::Pii,
        pattern: r"\b\d{3}-\d{2}-\d{4}\b",
        valid: None,
    },
    // A UK national insurance number is found as HMRC prints it, spaced (`QQ 12 34 56 C`, or
    // `QQ 123456 C`), anywhere; written compact (`QQ123456C`) only after words that say what it
    // is (`NINO`, `NI number`, `national insurance no.`). The compact shape alone is the shape of
    // countless product, part and reference codes (`PX123456B`), and HMRC's letter rules leave
    // most two-letter prefixes valid, so without context it would redact them too.
    Detector {
        name: "uk_nino",
        kind: Kind::Pii,
        pattern: concat!(
            r"\b(?P<v>",
            nino_prefix!(),
            r" (?:\d{2} \d{2} \d{2}|\d{6}) [A-D])\b"
        ),
        valid: Some(nino_ok),
    },
    Detector {
        name: "uk_nino",
        kind: Kind::Pii,
        pattern: concat!(
            r"(?i-u:\b(?:national\s+insurance|nino|ni)(?:\s+(?:number|no\.?))?)\s*[:#]?\s*\b(?P<v>",
            nino_prefix!(),
            r" ?\d{2} ?\d{2} ?\d{2} ?[A-D])\b"
        ),
        valid: Some(nino_ok),
    },
    Detector {
        name: "phone",
        kind: Kind::Pii,
        pattern: r"(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){2,3}|\(\d{3}\) ?\d{3}-\d{4}|\b\d{3}-\d{3}-\d{4}\b)",
        valid: None,
    },
];

struct Compiled {
    set: RegexSet,
    each: Vec<Regex>,
}

static COMPILED: LazyLock<Option<Compiled>> = LazyLock::new(|| {
    let patterns = DETECTORS.iter().map(|d| d.pattern);
    let set = RegexSet::new(patterns).ok()?;
    let each = DETECTORS
        .iter()
        .map(|d| Regex::new(d.pattern))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(Compiled { set, each })
});

/// The Luhn check of a card number's digits (13 to 19 of them).
fn luhn_ok(text: &str) -> bool {
    let (mut count, mut sum) = (0_usize, 0_u32);
    for d in text
        .bytes()
        .rev()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
    {
        sum += if count % 2 == 1 {
            let doubled = d * 2;
            if doubled > 9 { doubled - 9 } else { doubled }
        } else {
            d
        };
        count += 1;
    }
    (13..=19).contains(&count) && sum.is_multiple_of(10)
}

/// A card number, or a card number and its CVV: the digits pass the Luhn check, or the last group
/// is a CVV (3 or 4 digits after a space or `-`) and the digits before it pass it.
fn card_ok(text: &str) -> bool {
    if luhn_ok(text) {
        return true;
    }
    let Some(at) = text.rfind([' ', '-']) else {
        return false;
    };
    let (card, cvv) = (text.get(..at).unwrap_or_default(), text.get(at + 1..));
    cvv.is_some_and(|cvv| (3..=4).contains(&cvv.len())) && luhn_ok(card)
}

/// An OpenAI key's token has digits, as random base62 has: hyphenated words have none.
fn openai_ok(text: &str) -> bool {
    let token = text.strip_prefix("sk-").unwrap_or(text);
    let token = ["proj-", "svcacct-", "admin-"]
        .iter()
        .find_map(|p| token.strip_prefix(p))
        .unwrap_or(token);
    token.bytes().any(|b| b.is_ascii_digit()) && token.bytes().any(|b| b.is_ascii_alphabetic())
}

/// HMRC never issues the prefixes BG, GB, KN, NK, NT, TN and ZZ (the letter rules are in the
/// pattern).
fn nino_ok(text: &str) -> bool {
    !matches!(
        text.as_bytes().get(..2),
        Some(b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ")
    )
}

/// The ISO 13616 check of an IBAN: moved country and check digits, letters as numbers, mod 97.
fn iban_ok(text: &str) -> bool {
    let compact: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() < 15 || compact.len() > 34 {
        return false;
    }
    let rotated = compact[4..].iter().chain(&compact[..4]);
    let mut remainder: u32 = 0;
    for c in rotated {
        let value = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        let width = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * width + value) % 97;
    }
    remainder == 1
}

/// What a text held, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Findings {
    /// Personal data was found.
    pub pii: bool,
    /// A credential was found.
    pub secret: bool,
}

impl Findings {
    /// Whether anything was found.
    #[must_use]
    pub fn any(&self) -> bool {
        self.pii || self.secret
    }

    /// Both findings together.
    pub fn merge(&mut self, other: Findings) {
        self.pii |= other.pii;
        self.secret |= other.secret;
    }
}

/// The bytes the first pass reads at once: a fixed-size block, so that the compiler turns the
/// per-byte tests into vector instructions.
const BLOCK: usize = 16;

/// The first pass's running results, one lane per byte of a block (vector registers).
#[derive(Default)]
struct Lanes {
    /// Digits seen, saturating: [`worth_scanning`] only asks whether there are a few.
    digits: [u8; BLOCK],
    /// [`UPPER`], [`AT`] and [`ANCHOR`], as seen.
    flags: [u8; BLOCK],
}

const UPPER: u8 = 1;
const AT: u8 = 2;
/// A byte that every credential prefix holds one of: see [`prefix_around`].
const ANCHOR: u8 = 4;

impl Lanes {
    /// Adds a block, with tests that have no branches (`|`, not `||` or `matches!`).
    #[inline(always)]
    fn add(&mut self, block: &[u8; BLOCK]) {
        let lanes = self.digits.iter_mut().zip(&mut self.flags);
        for (&b, (digits, flags)) in block.iter().zip(lanes) {
            *digits = digits.saturating_add(u8::from(b.wrapping_sub(b'0') < 10));
            let anchor = u8::from(b == b'-')
                | u8::from(b == b'_')
                | u8::from(b == b'A')
                | u8::from(b == b'J')
                | u8::from(b == b'x');
            *flags |= (u8::from(b.wrapping_sub(b'A') < 26) * UPPER)
                | (u8::from(b == b'@') * AT)
                | (anchor * ANCHOR);
        }
    }
}

/// What the first pass learns of a text of at least 8 bytes: how many digits (at least; a byte
/// may be counted twice), and which of [`UPPER`], [`AT`] and [`ANCHOR`] it holds.
fn summary(bytes: &[u8]) -> (usize, u8) {
    let mut lanes = Lanes::default();
    let mut blocks = bytes.chunks_exact(BLOCK);
    for block in blocks.by_ref() {
        if let Ok(block) = <&[u8; BLOCK]>::try_from(block) {
            lanes.add(block);
        }
    }
    if !blocks.remainder().is_empty() {
        // The last block overlaps the one before it; a text shorter than a block is read as its
        // first eight bytes and its last eight.
        let last = bytes.get(bytes.len().saturating_sub(BLOCK)..);
        if let Some(Ok(block)) = last.map(<&[u8; BLOCK]>::try_from) {
            lanes.add(block);
        } else if let (Some(head), Some(tail)) =
            (bytes.get(..8), bytes.get(bytes.len().saturating_sub(8)..))
        {
            let mut block = [0_u8; BLOCK];
            let (first, second) = block.split_at_mut(8);
            first.copy_from_slice(head);
            second.copy_from_slice(tail);
            lanes.add(&block);
        }
    }
    let digits = lanes.digits.iter().map(|&d| usize::from(d)).sum();
    let flags = lanes.flags.iter().fold(0, |all, &f| all | f);
    (digits, flags)
}

/// Whether a credential's fixed prefix starts at `rest`.
fn prefix_at(rest: &[u8]) -> bool {
    match rest {
        [b's' | b'r', b'k', b'-' | b'_', ..] => rest[0] == b's' || rest[2] == b'_',
        [b'A', b'K' | b'S', b'I', b'A', ..] | [b'A', b'I', b'z', b'a', ..] => true,
        [b'g', b'h', b'p' | b'o' | b'u' | b's' | b'r', b'_', ..] => true,
        [b'g', b'i', ..] => rest.starts_with(b"github_pat_"),
        [b'x', b'o', b'x', ..] | [b'e', b'y', b'J', ..] => true,
        [b'-', b'-', ..] => rest.starts_with(b"-----BEGIN"),
        _ => false,
    }
}

/// Whether a credential's fixed prefix holds the anchor byte at `at`. Every prefix
/// [`prefix_at`] knows holds an anchor at a fixed offset from its start: `sk-` a `-` at 2,
/// `sk_` and `rk_` a `_` at 2, `gh?_` a `_` at 3, `github_pat_` a `_` at 6, `-----BEGIN` a `-`
/// at 0, `AKIA`, `ASIA` and `AIza` an `A` at 0, `eyJ` a `J` at 2, `xox` an `x` at 0; so only the
/// starts those offsets give need looking at.
fn prefix_around(bytes: &[u8], at: usize, anchor: u8) -> bool {
    let starts: &[usize] = match anchor {
        b'-' => &[2, 0],
        b'_' => &[2, 3, 6],
        b'J' => &[2],
        _ => &[0],
    };
    starts.iter().any(|&back| {
        at.checked_sub(back)
            .and_then(|start| bytes.get(start..))
            .is_some_and(prefix_at)
    })
}

/// The longest run of digits, separators (` `, `-`, `.`, `(`, `)`, `+`) allowed within it.
fn longest_digit_run(bytes: &[u8]) -> usize {
    let (mut run, mut longest) = (0_usize, 0_usize);
    for &b in bytes {
        if b.is_ascii_digit() {
            run += 1;
            longest = longest.max(run);
        } else if !matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'+') {
            run = 0;
        }
    }
    longest
}

/// Whether `text` could hold anything a detector finds: an `@`, a credential's fixed prefix, or
/// a run of digits (separators allowed) long enough for a number a detector knows: 9 (an SSN) or,
/// with an upper-case letter about, 6 (a UK NI number). Most attribute values (names, ids,
/// enums, prose) fail it and skip the regular expressions.
///
/// One branch-free pass counts the digits and notes upper-case letters, `@` and the bytes every
/// credential prefix holds one of; only a text with one of those bytes is searched for a prefix
/// around them, and only a text with enough digits for their longest run.
fn worth_scanning(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() < 8 {
        return bytes.contains(&b'@');
    }
    let (digits, flags) = summary(bytes);
    if flags & AT != 0 {
        return true;
    }
    if flags & ANCHOR != 0
        && bytes.iter().enumerate().any(|(at, &b)| {
            matches!(b, b'-' | b'_' | b'A' | b'J' | b'x') && prefix_around(bytes, at, b)
        })
    {
        return true;
    }
    let needed = if flags & UPPER != 0 { 6 } else { 9 };
    digits >= needed && longest_digit_run(bytes) >= needed
}

/// The text with every finding of the enabled kinds replaced by `[REDACTED:name]`, and what was
/// found; `None` when nothing was (the common case costs one pass over the bytes).
#[must_use]
pub fn redact(text: &str, pii: bool, secrets: bool) -> Option<(String, Findings)> {
    if !worth_scanning(text) {
        return None;
    }
    let compiled = COMPILED.as_ref()?;
    let matched = compiled.set.matches(text);
    if !matched.matched_any() {
        return None;
    }
    let mut out = text.to_owned();
    let mut findings = Findings::default();
    for index in matched.iter() {
        let detector = &DETECTORS[index];
        let enabled = match detector.kind {
            Kind::Pii => pii,
            Kind::Secret => secrets,
        };
        if !enabled {
            continue;
        }
        let regex = &compiled.each[index];
        let mut hit = false;
        let replaced = regex.replace_all(&out, |caps: &regex::Captures<'_>| {
            let whole = caps.get(0).map_or("", |m| m.as_str());
            // The finding, and the context around it that is kept.
            let (before, found, after) = match (caps.get(0), caps.name("v")) {
                (Some(m), Some(v)) => (
                    whole.get(..v.start() - m.start()).unwrap_or_default(),
                    v.as_str(),
                    whole.get(v.end() - m.start()..).unwrap_or_default(),
                ),
                _ => ("", whole, ""),
            };
            if detector.valid.is_none_or(|valid| valid(found)) {
                hit = true;
                format!("{before}[REDACTED:{}]{after}", detector.name)
            } else {
                whole.to_owned()
            }
        });
        if hit {
            out = replaced.into_owned();
            match detector.kind {
                Kind::Pii => findings.pii = true,
                Kind::Secret => findings.secret = true,
            }
        }
    }
    findings.any().then_some((out, findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(text: &str) -> Option<String> {
        redact(text, true, true).map(|(t, _)| t)
    }

    /// The first prefilter, a byte-class loop: the faster one must answer as it did.
    mod first_prefilter {
        /// What a byte meant to the first `worth_scanning`.
        const OTHER: u8 = 0;
        const DIGIT: u8 = 1;
        const SEPARATOR: u8 = 2;
        const UPPER: u8 = 3;
        const AT: u8 = 4;
        /// The first byte of a credential's fixed prefix (also upper case for `A`).
        const PREFIX: u8 = 5;

        static CLASS: [u8; 256] = {
            let mut table = [OTHER; 256];
            let mut b = 0;
            while b < 256 {
                let c = b as u8;
                table[b] = if c.is_ascii_digit() {
                    DIGIT
                } else if matches!(c, b' ' | b'-' | b'.' | b'(' | b')' | b'+') {
                    if c == b'-' { PREFIX } else { SEPARATOR }
                } else if c == b'@' {
                    AT
                } else if matches!(c, b's' | b'r' | b'A' | b'g' | b'x' | b'e') {
                    PREFIX
                } else if c.is_ascii_uppercase() {
                    UPPER
                } else {
                    OTHER
                };
                b += 1;
            }
            table
        };

        /// Whether `text` could hold anything a detector finds, in one pass over its bytes: an `@`, a
        /// credential's fixed prefix, or a run of digits (separators allowed) long enough for a number a
        /// detector knows: 9 (an SSN) or, with an upper-case letter about, 6 (a UK NI number). Most
        /// attribute values (names, ids, enums) fail it and skip the regular expressions.
        pub(super) fn reference(text: &str) -> bool {
            let bytes = text.as_bytes();
            if bytes.contains(&b'@') {
                return true;
            }
            if bytes.len() < 8 {
                return false;
            }
            let (mut run, mut longest, mut upper) = (0_usize, 0_usize, false);
            for (i, &b) in bytes.iter().enumerate() {
                match CLASS[usize::from(b)] {
                    DIGIT => {
                        run += 1;
                        longest = longest.max(run);
                    }
                    SEPARATOR => {}
                    AT => return true,
                    PREFIX => {
                        if super::prefix_at(&bytes[i..]) {
                            return true;
                        }
                        // `-` separates digits too; the other prefix bytes are letters.
                        if b != b'-' {
                            run = 0;
                            upper |= b == b'A';
                        }
                    }
                    UPPER => {
                        run = 0;
                        upper = true;
                    }
                    _ => run = 0,
                }
            }
            longest >= 9 || (longest >= 6 && upper)
        }
    }

    #[test]
    fn the_prefilter_answers_as_the_first_one_did() {
        const ALPHABET: &[u8] = b"0123456789 -.()+@_AKSIzaskrghipoubtxeyJBEGNNnl,:/";
        const PIECES: [&str; 14] = [
            "sk-",
            "sk_",
            "rk_",
            "rk-",
            "AKIA",
            "ASIA",
            "AIza",
            "ghp_",
            "github_pat_",
            "xox",
            "eyJ",
            "-----BEGIN",
            "4111 1111 1111 1111",
            "AB 12 34 56 C",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut text = String::new();
        for _ in 0..300_000 {
            text.clear();
            let len = next() % 100;
            while (text.len() as u64) < len {
                let r = next();
                if r % 16 == 0 {
                    text.push_str(PIECES[(r >> 8) as usize % PIECES.len()]);
                } else {
                    text.push(char::from(ALPHABET[(r >> 8) as usize % ALPHABET.len()]));
                }
            }
            assert_eq!(
                worth_scanning(&text),
                first_prefilter::reference(&text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn every_pattern_compiles() {
        // A pattern that does not compile would turn every detector off, silently.
        for d in &DETECTORS {
            assert!(Regex::new(d.pattern).is_ok(), "{}", d.name);
        }
        assert!(COMPILED.is_some());
    }

    #[test]
    fn each_detector_redacts_its_positive_samples() {
        let samples = [
            ("write to jane.doe@example.com today", "email", Kind::Pii),
            ("me@x.io", "email", Kind::Pii),
            ("call +44 20 7946 0958 now", "phone", Kind::Pii),
            ("call (555) 123-4567 now", "phone", Kind::Pii),
            ("card 4111 1111 1111 1111 exp 12/29", "card", Kind::Pii),
            ("card 5500-0000-0000-0004", "card", Kind::Pii),
            ("pay GB82 WEST 1234 5698 7654 32", "iban", Kind::Pii),
            ("pay DE89370400440532013000", "iban", Kind::Pii),
            ("ssn 078-05-1120", "us_ssn", Kind::Pii),
            ("nino AB 12 34 56 C", "uk_nino", Kind::Pii),
            (
                "key sk-proj-abcdefghijklmnopqrstuvwxyz0123",
                "openai_key",
                Kind::Secret,
            ),
            (
                "key sk-ant-api03-abcdefghijklmnopqrstuv",
                "anthropic_key",
                Kind::Secret,
            ),
            ("aws AKIAIOSFODNN7EXAMPLE", "aws_access_key", Kind::Secret),
            (
                "gcp AIzaSyA1234567890abcdefghijklmnopqrstuv",
                "gcp_api_key",
                Kind::Secret,
            ),
            (
                "gh ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "github_token",
                Kind::Secret,
            ),
            (
                "slack xoxb-1234567890-abcdefghij",
                "slack_token",
                Kind::Secret,
            ),
            (
                "stripe sk_live_abcdefghijklmnop1234",
                "stripe_key",
                Kind::Secret,
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "jwt",
                Kind::Secret,
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
                "private_key",
                Kind::Secret,
            ),
        ];
        for (text, name, kind) in samples {
            let (out, findings) = redact(text, true, true).unwrap_or_else(|| panic!("{text}"));
            assert!(
                out.contains(&format!("[REDACTED:{name}]")),
                "{text} -> {out}"
            );
            assert_eq!(
                (findings.pii, findings.secret),
                (kind == Kind::Pii, kind == Kind::Secret),
                "{text}"
            );
        }
    }

    #[test]
    fn negative_samples_are_left_alone() {
        for text in [
            "gpt-4o",
            "order-981 shipped on 2026-11-24",
            "card 4111 1111 1111 1112",         // fails Luhn
            "iban GB82 WEST 1234 5698 7654 33", // fails mod 97
            "trace 4bf92f3577b34da6a3ce929d0e0e4736",
            "tokens 1800 of 128000",
            "sk-short",
            "user@localhost",
            "at 1732435200123 ms",    // an epoch-millisecond timestamp
            "id 1869745201863344128", // a snowflake id
            "version 1.2.3",
        ] {
            assert_eq!(redacted(text), None, "{text}");
        }
    }

    #[test]
    fn a_card_number_followed_by_its_cvv_is_redacted_with_it() {
        for text in [
            "card 4111 1111 1111 1111 123 thanks",
            "card 4111-1111-1111-1111 123 thanks",
            "card 4111111111111111 123 thanks",
            "card 4111 1111 1111 1111 1234 thanks",
            "card 3782 822463 10005 1234 thanks", // Amex, 15 digits and a 4-digit CVV
            "card 3782 822463 10005 123 thanks",
        ] {
            assert_eq!(
                redacted(text).as_deref(),
                Some("card [REDACTED:card] thanks"),
                "{text}"
            );
        }
        // Neither the digits nor the digits before the last group pass the Luhn check.
        assert_eq!(redacted("card 4111 1111 1111 1112 123"), None);
        assert_eq!(redacted("card 4111-1111-1111-1112-123"), None);
        // Five digits after the card are no CVV: the card alone is redacted.
        assert_eq!(
            redacted("ref 4111 1111 1111 1111 12345").as_deref(),
            Some("ref [REDACTED:card] 12345")
        );
    }

    #[test]
    fn openai_keys_are_found_and_hyphenated_words_are_not() {
        let legacy = "sk-Ab3dEfGh1jKlMn0pQrStT3BlbkFJuVwXyZ0123456789abcdEF";
        let project = format!(
            "sk-proj-{}_{}-{}",
            "A1b2C3d4E5f6G7h8I9j0".repeat(3),
            "kLmNoPqRsTuVwXyZ".repeat(2),
            "T3BlbkFJ0123456789abcdef"
        );
        for key in [
            legacy.to_owned(),
            project,
            "sk-svcacct-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa_-abcd".to_owned(),
            "sk-admin-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa_-abcd".to_owned(),
        ] {
            let text = format!("OPENAI_API_KEY={key} ");
            assert_eq!(
                redacted(&text).as_deref(),
                Some("OPENAI_API_KEY=[REDACTED:openai_key] "),
                "{key}"
            );
        }
        for text in [
            "pip install scikit-learn, then read sk-learn-toolkit-for-python-users",
            "sk-learn-toolkit",
            "the sk-proj-management-tools-for-large-teams repository",
            "sk-this-is-not-a-key-at-all-really-not",
            "sk-abcdefghijklmnopqrstuvwxyzabcdefghijklmnop", // no digit: not random
        ] {
            assert_eq!(redacted(text), None, "{text}");
        }
    }

    #[test]
    fn uk_national_insurance_numbers_follow_hmrc_rules() {
        for (text, out) in [
            ("nino AB 12 34 56 C", "nino [REDACTED:uk_nino]"),
            ("it is JG 103759 A.", "it is [REDACTED:uk_nino]."),
            ("NINO: AB123456C", "NINO: [REDACTED:uk_nino]"),
            ("NI number JG103759A", "NI number [REDACTED:uk_nino]"),
            ("ni no. ab AB123456D x", "ni no. ab AB123456D x"), // context not next to it
            (
                "National Insurance No. CE 12 34 56 B",
                "National Insurance No. [REDACTED:uk_nino]",
            ),
        ] {
            assert_eq!(
                redacted(text).unwrap_or_else(|| text.to_owned()),
                out,
                "{text}"
            );
        }
        for text in [
            "PO123456B",               // a purchase-order code, compact: no context
            "order PO123456B shipped", // the same
            "part HP123456A",          // a part number
            "AB123456C",               // a valid number, but compact and without context
            "QQ 12 34 56 C",           // HMRC's example: Q is never the first letter
            "PO 12 34 56 B",           // O is never the second letter
            "DA 12 34 56 A",           // nor D the first
            "AV 12 34 56 A",           // nor V the second
            "GB 12 34 56 A",           // excluded prefixes
            "BG 123456 A",
            "ZZ 12 34 56 D",
            "NT 12 34 56 C",
            "NINO: TN123456A",
            "AB 12 34 56 E",  // the suffix is A to D
            "XAB 12 34 56 C", // not at a word boundary
        ] {
            assert_eq!(redacted(text), None, "{text}");
        }
    }

    #[test]
    fn kinds_can_be_turned_off_separately() {
        let text = "jane@example.com sk-proj-abcdefghijklmnopqrstuvwxyz0123";
        let (out, f) = redact(text, false, true).unwrap();
        assert!(out.contains("jane@example.com") && out.contains("[REDACTED:openai_key]"));
        assert!(!f.pii && f.secret);
        assert_eq!(redact("jane@example.com", false, true), None);
    }
}
