//! The contract's codes and keywords spelled once: each enum's variants and their texts are declared
//! in one [`spelled!`] table that gives `ALL`, `as_str`, `FromStr`, `Display` and serde.

/// Declares how each variant of a field-less enum is spelled, and derives from that one table:
/// `ALL` (declaration order), `as_str`, `accepted()` (for messages), `FromStr` (its error names the
/// value, shown safely, and what is accepted), `Display`, `From<T> for String` and serde
/// (`Serialize` writes the text; `Deserialize` refuses other texts as serde's derive would, naming
/// the variants).
macro_rules! spelled {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the order the contract lists them.
            pub const ALL: [$ty; [$($text),+].len()] = [$($ty::$variant),+];

            /// The texts of [`Self::ALL`], in the same order.
            pub const NAMES: [&'static str; [$($text),+].len()] = [$($text),+];

            /// The value as the contract spells it.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }

            /// The accepted spellings, comma-separated, for messages.
            #[must_use]
            pub fn accepted() -> String {
                Self::NAMES.join(", ")
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(format!(
                        "{} is not one of {}",
                        $crate::config::shown(s),
                        Self::accepted()
                    )),
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                match &*text {
                    $($text => Ok($ty::$variant),)+
                    other => Err(<D::Error as ::serde::de::Error>::unknown_variant(other, &Self::NAMES)),
                }
            }
        }
    };
}

pub(crate) use spelled;

// No `From<T> for String` here: a `Violation` that converted into `String` would let
// `#[governed]` deny a call whose error type is `String` (it denies exactly when the error type
// converts from `Violation`). The config keywords, which are not errors, add it themselves.
