//! How many tokens a prompt is, before the call reports it.
//!
//! The context-window guard and the budgets weigh a model call before it runs, when only its
//! prompt is known: [`estimate_tokens`] counts that prompt's tokens for the model. What the
//! provider reports after the call replaces the estimate.
//!
//! How exact the estimate is depends on the cargo feature `tiktoken`:
//!
//! - **Without it** (the default) a token is taken as four bytes of UTF-8, rounded up
//!   ([`Estimator::Bytes`]). No tokenizer is built in and the estimate costs nothing, but it is
//!   only an approximation: for English prose it is usually a little high (OpenAI's tokenizers
//!   average more than four bytes a token there), while for text in scripts that take two to four
//!   bytes a character (Cyrillic, Greek, CJK...) and for dense code or JSON it can be well below
//!   the real count.
//! - **With it**, the text is encoded with OpenAI's own tokenizer for the model, through the
//!   [`tiktoken-rs`](https://docs.rs/tiktoken-rs) crate: `o200k_base` for the GPT-4o, GPT-4.1,
//!   GPT-4.5, GPT-5, `o1`, `o3` and `o4` families, `cl100k_base` for GPT-4 and GPT-3.5
//!   ([`Estimator::for_model`]). The count is then exact for the prompt text of those models;
//!   what a chat request adds around it (a few tokens a message for roles and separators, tool
//!   schemas, images) is not counted. Models with no public tokenizer (Claude, Gemini, Mistral,
//!   Llama...) and unknown names are counted with `o200k_base` as an **approximation**: their
//!   tokenizers differ, and so may the count, either way. Special-token text such as
//!   `<|endoftext|>` in the prompt is counted as ordinary text. Each encoding's table is built
//!   once per process, on the first estimate that needs it (about 0.1 s in an optimized build;
//!   [`warm_up`] does it ahead), holds about 50 MiB (`o200k_base`) or 25 MiB (`cl100k_base`) from
//!   then on, and is shared by every thread; an estimate then takes time in proportion to the
//!   text's length, about 20 µs for 1 KiB of English in `o200k_base` and 40 µs in `cl100k_base`
//!   on a 2-core development machine.
//!
//! Neither way panics: should a tokenizer fail to build or to encode a text, the estimate falls
//! back to four bytes a token.

/// How [`estimate_tokens`] counts a text's tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Estimator {
    /// A token per four bytes of UTF-8, rounded up: an approximation for any model.
    Bytes,
    /// OpenAI's `o200k_base` encoding (GPT-4o and later; the stand-in for models with no public
    /// tokenizer). Counts as [`Estimator::Bytes`] without the `tiktoken` feature.
    O200kBase,
    /// OpenAI's `cl100k_base` encoding (GPT-4, GPT-3.5). Counts as [`Estimator::Bytes`] without
    /// the `tiktoken` feature.
    Cl100kBase,
}

/// Whether this build counts tokens with OpenAI's tokenizers (the cargo feature `tiktoken`).
pub const TOKENIZER_BUILT_IN: bool = cfg!(feature = "tiktoken");

impl Estimator {
    /// The estimator for a model, by its name as the call names it (`gpt-4o`,
    /// `gpt-4o-2024-08-06`, `openai/gpt-4.1-mini`, `ft:gpt-4o-mini:org::id`...), or for an
    /// unnamed one.
    ///
    /// Without the `tiktoken` feature it is always [`Estimator::Bytes`]. With it, OpenAI's
    /// tokenizer for the model when it has one (a provider prefix before the last `/` is ignored),
    /// and [`Estimator::O200kBase`], as an approximation, for every other model and for `None`.
    #[must_use]
    pub fn for_model(model: Option<&str>) -> Self {
        if TOKENIZER_BUILT_IN {
            tiktoken::encoding_for(model)
        } else {
            Estimator::Bytes
        }
    }

    /// The estimator's name as OpenAI spells its encodings (`o200k_base`, `cl100k_base`), or
    /// `bytes/4`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Estimator::Bytes => "bytes/4",
            Estimator::O200kBase => "o200k_base",
            Estimator::Cl100kBase => "cl100k_base",
        }
    }

    /// How many tokens `text` is by this estimator; see the [module](self) for how exact that is.
    #[must_use]
    pub fn count(self, text: &str) -> u64 {
        match self {
            Estimator::Bytes => bytes_estimate(text),
            Estimator::O200kBase | Estimator::Cl100kBase => {
                tiktoken::count(self, text).unwrap_or_else(|| bytes_estimate(text))
            }
        }
    }
}

/// How many tokens `text` is for `model`: [`Estimator::for_model`]'s count.
///
/// ```
/// use govops_core::tokens::{TOKENIZER_BUILT_IN, estimate_tokens};
///
/// let n = estimate_tokens("hello world", Some("gpt-4o"));
/// assert_eq!(n, if TOKENIZER_BUILT_IN { 2 } else { 3 }); // 11 bytes: 3 at four bytes a token
/// ```
#[must_use]
pub fn estimate_tokens(text: &str, model: Option<&str>) -> u64 {
    Estimator::for_model(model).count(text)
}

/// A token per four bytes of UTF-8, rounded up.
#[must_use]
pub fn bytes_estimate(text: &str) -> u64 {
    u64::try_from(text.len().div_ceil(4)).unwrap_or(u64::MAX)
}

/// Builds the table of the encoding `model` is counted with ([`Estimator::for_model`]) now
/// rather than on the first estimate, so that no governed call waits for it; does nothing
/// without the `tiktoken` feature.
pub fn warm_up(model: Option<&str>) {
    if TOKENIZER_BUILT_IN {
        let _ = Estimator::for_model(model).count("");
    }
}

#[cfg(feature = "tiktoken")]
mod tiktoken {
    use std::collections::HashSet;
    use std::sync::LazyLock;

    use tiktoken_rs::CoreBPE;
    use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

    use super::Estimator;

    // Built once per process, on first use: a table takes about a tenth of a second to build and
    // 25 to 50 MiB to hold. `None` if it could not be built (it ships inside tiktoken-rs, so that
    // is not expected); estimates then fall back to four bytes a token.
    static O200K_BASE: LazyLock<Option<CoreBPE>> = LazyLock::new(|| tiktoken_rs::o200k_base().ok());
    static CL100K_BASE: LazyLock<Option<CoreBPE>> =
        LazyLock::new(|| tiktoken_rs::cl100k_base().ok());

    pub(super) fn encoding_for(model: Option<&str>) -> Estimator {
        let Some(model) = model else {
            return Estimator::O200kBase;
        };
        // `openai/gpt-4o` (a router's name) is `gpt-4o`.
        let model = model.rsplit('/').next().unwrap_or(model);
        match get_tokenizer(model) {
            Some(Tokenizer::Cl100kBase) => Estimator::Cl100kBase,
            // `o200k_harmony` (gpt-oss) is `o200k_base` with more special tokens: the same count
            // for ordinary text. GPT-3-era encodings are for retired models: approximated too.
            _ => Estimator::O200kBase,
        }
    }

    /// The text's token count, or `None` if the table or the encoding failed.
    pub(super) fn count(estimator: Estimator, text: &str) -> Option<u64> {
        let bpe = match estimator {
            Estimator::Cl100kBase => CL100K_BASE.as_ref()?,
            _ => O200K_BASE.as_ref()?,
        };
        // No special token allowed: the count of `encode_ordinary`, but a regex failure (a
        // backtracking limit on pathological input) is an error here where `encode_ordinary`
        // would panic.
        let (tokens, _) = bpe.encode(text, &HashSet::new()).ok()?;
        u64::try_from(tokens.len()).ok()
    }
}

#[cfg(not(feature = "tiktoken"))]
mod tiktoken {
    use super::Estimator;

    pub(super) fn encoding_for(_: Option<&str>) -> Estimator {
        Estimator::Bytes
    }

    pub(super) fn count(_: Estimator, _: &str) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_estimate_is_a_token_per_four_bytes_rounded_up() {
        assert_eq!(bytes_estimate(""), 0);
        assert_eq!(bytes_estimate("a"), 1);
        assert_eq!(bytes_estimate("abcd"), 1);
        assert_eq!(bytes_estimate("abcde"), 2);
        assert_eq!(bytes_estimate("héllo"), 2, "bytes, not characters");
        assert_eq!(Estimator::Bytes.count("hello world"), 3);
        assert_eq!(Estimator::Bytes.name(), "bytes/4");
    }

    #[cfg(not(feature = "tiktoken"))]
    #[test]
    fn without_the_feature_every_model_is_estimated_at_four_bytes_a_token() {
        const { assert!(!TOKENIZER_BUILT_IN) };
        for model in [Some("gpt-4o"), Some("gpt-4"), Some("claude-sonnet-4"), None] {
            assert_eq!(Estimator::for_model(model), Estimator::Bytes);
            assert_eq!(estimate_tokens("hello world", model), 3);
        }
        // A tokenizer named anyway counts as bytes/4: it is not built in.
        assert_eq!(Estimator::O200kBase.count("hello world"), 3);
        warm_up(Some("gpt-4o"));
    }

    #[cfg(feature = "tiktoken")]
    #[test]
    fn with_the_feature_each_model_family_gets_its_encoding() {
        const { assert!(TOKENIZER_BUILT_IN) };
        for model in [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4o-2024-08-06",
            "chatgpt-4o-latest",
            "gpt-4.1",
            "gpt-4.1-nano",
            "gpt-5",
            "o1",
            "o1-mini",
            "o3",
            "o3-mini",
            "o4-mini",
            "openai/gpt-4o",
            "ft:gpt-4o-mini:org::abc",
            "gpt-oss-20b",
        ] {
            assert_eq!(
                Estimator::for_model(Some(model)),
                Estimator::O200kBase,
                "{model}"
            );
        }
        for model in [
            "gpt-4",
            "gpt-4-turbo",
            "gpt-4-0613",
            "gpt-3.5-turbo",
            "gpt-35-turbo",
        ] {
            assert_eq!(
                Estimator::for_model(Some(model)),
                Estimator::Cl100kBase,
                "{model}"
            );
        }
        // No public tokenizer: o200k_base stands in.
        for model in [
            Some("claude-sonnet-4-20250514"),
            Some("gemini-2.5-pro"),
            Some("mistral-large-latest"),
            Some("not-a-model"),
            Some(""),
            None,
        ] {
            assert_eq!(
                Estimator::for_model(model),
                Estimator::O200kBase,
                "{model:?}"
            );
        }
    }

    #[cfg(feature = "tiktoken")]
    #[test]
    fn with_the_feature_counts_are_the_tokenizers() {
        warm_up(Some("gpt-4o"));
        warm_up(Some("gpt-4"));
        assert_eq!(estimate_tokens("hello world", Some("gpt-4o")), 2);
        assert_eq!(estimate_tokens("hello world", Some("gpt-4")), 2);
        assert_eq!(estimate_tokens("hello world", Some("claude-3-5-haiku")), 2);
        assert_eq!(estimate_tokens("", Some("gpt-4o")), 0);
        // Where the two encodings differ: o200k_base has tokens for much more of other scripts.
        let greeting = "Привет, мир! Как дела?";
        let (o200k, cl100k) = (
            Estimator::O200kBase.count(greeting),
            Estimator::Cl100kBase.count(greeting),
        );
        assert!(o200k < cl100k, "o200k {o200k}, cl100k {cl100k}");
        // Special-token text is ordinary text: more than the one special token.
        assert!(estimate_tokens("<|endoftext|>", Some("gpt-4o")) > 1);
        // The same count as tiktoken-rs's own `encode_ordinary`.
        let text =
            "The quick brown fox jumps over the lazy dog.\n\tfn main() { println!(\"{}\", 42); }";
        let reference = tiktoken_rs::o200k_base()
            .unwrap()
            .encode_ordinary(text)
            .len();
        assert_eq!(estimate_tokens(text, Some("gpt-4o")), reference as u64);
        assert_eq!(Estimator::O200kBase.name(), "o200k_base");
        assert_eq!(Estimator::Cl100kBase.name(), "cl100k_base");
    }
}
