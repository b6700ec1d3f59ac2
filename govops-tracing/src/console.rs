//! The stderr console keeps export's rules: personal data and credentials are redacted, and a
//! governed call's prompt and content-bearing arguments are shown only when content is captured;
//! a model call's arguments not at all without capture (contract section 9). Container platforms
//! collect and ship stderr like any other telemetry.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

use crate::capture::is_scalar_text;
use crate::scan::Scan;
use govops_core::content::Findings;
use govops_core::contract::attr::OPERATION_NAME;
use govops_protocol::field::{ARGUMENTS, PROMPT};

/// Formats the fields of console lines (events and the spans around them).
pub(crate) struct ConsoleFields {
    scan: Scan,
    capture: bool,
}

impl ConsoleFields {
    pub(crate) fn new(config: &govops_core::Config) -> Self {
        Self::with(
            Scan::new(&config.policy_rules.guards),
            config.capture_content,
        )
    }

    fn with(scan: Scan, capture: bool) -> Self {
        ConsoleFields { scan, capture }
    }
}

impl<'writer> FormatFields<'writer> for ConsoleFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = Fields {
            writer,
            scan: self.scan,
            capture: self.capture,
            model_call: false,
            in_arguments: false,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Fields<'writer> {
    writer: Writer<'writer>,
    scan: Scan,
    capture: bool,
    /// A governed model call (`chat`, `text_completion`, `embeddings`): without capture its
    /// arguments are left out entirely, scalars too.
    model_call: bool,
    /// Past the macro's marker: the function's arguments.
    in_arguments: bool,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_> {
    fn write(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        // A message or a value may hold escape sequences the terminal would run.
        let value = govops_core::terminal::escape_controls(value);
        self.result = if field.name() == "message" {
            write!(self.writer, "{separator}{value}")
        } else {
            write!(self.writer, "{separator}{}={value}", field.name())
        };
    }

    fn text(&mut self, field: &Field, text: &str) {
        if self.in_arguments && !self.capture && (self.model_call || !is_scalar_text(text)) {
            return;
        }
        let mut found = Findings::default();
        match self
            .scan
            .enabled()
            .then(|| self.scan.text(text, &mut found))
            .flatten()
        {
            Some(clean) => self.write(field, &clean),
            None => self.write(field, text),
        }
    }
}

impl Visit for Fields<'_> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        match field.name() {
            ARGUMENTS => self.in_arguments = true,
            "govops.deniable" | "govops.arguments_partial" => {}
            _ => self.write(field, if value { "true" } else { "false" }),
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.write(field, &value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.write(field, &value.to_string());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.write(field, &value.to_string());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == PROMPT {
            return;
        }
        if field.name() == OPERATION_NAME {
            self.model_call = matches!(value, "chat" | "text_completion" | "embeddings");
        }
        self.text(field, &format!("{value:?}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == PROMPT {
            return;
        }
        let mut text = String::new();
        if write!(text, "{value:?}").is_err() {
            return;
        }
        self.text(field, &text);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What the console prints of a governed call's span (its fields as the macro records them)
    /// and an event inside it.
    fn printed(capture: bool, operation: &str) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(ConsoleFields::with(
                Scan::new(&govops_core::Guards::default()),
                capture,
            ))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let prompt = "my card is 4111 1111 1111 1111";
            tracing::info_span!(
                "chat gpt-4o",
                govops.contract.version = "1",
                gen_ai.operation.name = operation,
                gen_ai.request.model = "gpt-4o",
                govops.prompt = prompt,
                govops.prompt.estimated_tokens = 8_i64,
                govops.deniable = true,
                govops.arguments = true,
                prompt = ?prompt,
                order = ?981,
            )
            .in_scope(|| tracing::info!(detail = "key AKIAIOSFODNN7EXAMPLE", "asked {prompt}"));
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn the_console_redacts_and_shows_content_only_when_captured() {
        let line = printed(false, "execute_tool");
        assert!(!line.contains("4111"), "{line}");
        assert!(!line.contains("AKIAIOSFODNN7EXAMPLE"), "{line}");
        assert!(!line.contains("govops.prompt="), "{line}");
        assert!(!line.contains("prompt=\""), "{line}");
        assert!(!line.contains("govops.arguments"), "{line}");
        assert!(line.contains("order=981"), "{line}");
        assert!(line.contains("gen_ai.request.model=\"gpt-4o\""), "{line}");
        assert!(line.contains("govops.prompt.estimated_tokens=8"), "{line}");
        assert!(line.contains("asked my card is [REDACTED:card]"), "{line}");
        assert!(
            line.contains("detail=\"key [REDACTED:aws_access_key]\""),
            "{line}"
        );

        // A model call without capture shows no argument at all, a number neither.
        let line = printed(false, "chat");
        assert!(!line.contains("order="), "{line}");
        assert!(line.contains("govops.prompt.estimated_tokens=8"), "{line}");

        let line = printed(true, "chat");
        assert!(!line.contains("4111"), "{line}");
        assert!(
            line.contains("prompt=\"my card is [REDACTED:card]\""),
            "{line}"
        );
        assert!(!line.contains("govops.prompt="), "{line}");
        assert!(line.contains("order=981"), "{line}");
    }

    #[test]
    fn escape_sequences_in_messages_and_values_are_shown_not_run() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(ConsoleFields::with(
                Scan::new(&govops_core::Guards::default()),
                false,
            ))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let session = "s-1\u{1b}]0;owned\u{7}";
            tracing::info!(session = %session, "user \u{202e}txt.exe\r\u{1b}[2K");
        });
        let line = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(
            !line
                .trim_end_matches('\n')
                .chars()
                .any(govops_core::terminal::is_unsafe),
            "{line:?}"
        );
        assert!(
            line.contains("user \\u{202e}txt.exe\\u{d}\\u{1b}[2K"),
            "{line}"
        );
        assert!(line.contains("session=s-1\\u{1b}]0;owned\\u{7}"), "{line}");
    }
}
