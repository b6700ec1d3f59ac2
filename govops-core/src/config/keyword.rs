//! The keyword variables' values: the deployment environment, the data classification and the
//! OTLP transport, each spelled once.

use crate::spelling::spelled;

/// The deployment environment (`GOVOPS_ENVIRONMENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Environment {
    /// A developer's machine.
    Dev,
    /// Automated tests.
    Test,
    /// Pre-production.
    Staging,
    /// Production.
    Prod,
}

/// The classification of the data a workload handles (`GOVOPS_DATA_CLASSIFICATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataClassification {
    /// May be published.
    Public,
    /// For the organisation's own people.
    Internal,
    /// For named groups only.
    Confidential,
    /// The most sensitive data.
    Restricted,
}

/// The OTLP transport (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (`grpc`), usually on port 4317.
    Grpc,
    /// OTLP protobuf over HTTP (`http/protobuf`), usually on port 4318; the specification's default.
    HttpProtobuf,
}

spelled!(Environment { Dev => "dev", Test => "test", Staging => "staging", Prod => "prod" });
spelled!(DataClassification {
    Public => "public",
    Internal => "internal",
    Confidential => "confidential",
    Restricted => "restricted",
});
spelled!(OtlpProtocol { Grpc => "grpc", HttpProtobuf => "http/protobuf" });

/// What a setter of a keyword variable takes: the value itself (`Environment::Prod`), or the text
/// the variable would hold (`"prod"`), which start-up checks like the environment's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keyword<T> {
    /// The value, typed.
    Value(T),
    /// The text, checked at start-up.
    Text(String),
}

impl<T: Into<String>> Keyword<T> {
    /// The text the variable would hold.
    #[must_use]
    pub fn into_text(self) -> String {
        match self {
            Keyword::Value(value) => value.into(),
            Keyword::Text(text) => text,
        }
    }
}

macro_rules! keyword_args {
    ($($ty:ident),+) => {$(
        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.as_str().to_owned()
            }
        }

        impl From<$ty> for Keyword<$ty> {
            fn from(value: $ty) -> Self {
                Keyword::Value(value)
            }
        }

        impl From<&str> for Keyword<$ty> {
            fn from(text: &str) -> Self {
                Keyword::Text(text.to_owned())
            }
        }

        impl From<String> for Keyword<$ty> {
            fn from(text: String) -> Self {
                Keyword::Text(text)
            }
        }
    )+};
}

keyword_args!(Environment, DataClassification, OtlpProtocol);
