//! `govops::configure()`: metadata set in code, an injectable environment, and start-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use govops_core::config::VARIABLES;
use govops_core::contract::vars;
use govops_core::{Config, EnvSource, Gaps, Settings};
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::error::InitError;
use crate::handle::GovOps;
use crate::pipeline::Pipeline;

/// Set while a pipeline is installed (or being installed) in this process.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The shutdown bound when none is set: a collector that never answers costs at most this.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts a [`Builder`]: set metadata in code, then [`Builder::init`] or [`Builder::try_init`].
///
/// ```no_run
/// let _govops = govops_tracing::configure()
///     .app_name("support-bot")
///     .environment("dev")
///     .init();
/// ```
pub fn configure() -> Builder {
    Builder::default()
}

/// Configuration for [`GovOps`]: values set here win over the environment.
///
/// Every setter takes the text the matching environment variable would hold, and goes through
/// the same validation.
#[derive(Debug, Clone)]
#[must_use = "a Builder does nothing until init() or try_init() is called"]
pub struct Builder {
    settings: Settings,
    env: Option<EnvSource>,
    shutdown_timeout: Duration,
    stderr_logs: bool,
    log_filter: Option<String>,
    drift_baseline: Option<std::path::PathBuf>,
    audit_rotate_bytes: Option<u64>,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            settings: Settings::default(),
            env: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            stderr_logs: true,
            log_filter: None,
            drift_baseline: None,
            audit_rotate_bytes: None,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident => $var:expr;)+) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: impl Into<String>) -> Self {
                self.settings.set($var, value);
                self
            }
        )+
    };
}

impl Builder {
    setters! {
        /// The application's name (`GOVOPS_APP_NAME`).
        app_name => vars::APP_NAME;
        /// The environment: `dev`, `test`, `staging` or `prod` (`GOVOPS_ENVIRONMENT`).
        environment => vars::ENVIRONMENT;
        /// The owning team or person (`GOVOPS_OWNER`).
        owner => vars::OWNER;
        /// The cost center (`GOVOPS_COST_CENTER`).
        cost_center => vars::COST_CENTER;
        /// `public`, `internal`, `confidential` or `restricted` (`GOVOPS_DATA_CLASSIFICATION`).
        data_classification => vars::DATA_CLASSIFICATION;
        /// The policy file's path (`GOVOPS_POLICY`).
        policy => vars::POLICY;
        /// The application's version (`GOVOPS_APP_VERSION`).
        app_version => vars::APP_VERSION;
        /// A price table replacing the embedded one (`GOVOPS_PRICE_TABLE`).
        price_table => vars::PRICE_TABLE;
        /// The JSON-lines sink used when no OTLP endpoint is set (`GOVOPS_TELEMETRY_FILE`).
        telemetry_file => vars::TELEMETRY_FILE;
        /// The append-only audit log (`GOVOPS_AUDIT_LOG`).
        audit_log => vars::AUDIT_LOG;
        /// The OTLP endpoint for every signal (`OTEL_EXPORTER_OTLP_ENDPOINT`).
        otlp_endpoint => vars::OTLP_ENDPOINT;
        /// `grpc` or `http/protobuf` (`OTEL_EXPORTER_OTLP_PROTOCOL`).
        otlp_protocol => vars::OTLP_PROTOCOL;
        /// Export headers, `key=value,…` (`OTEL_EXPORTER_OTLP_HEADERS`); never printed.
        otlp_headers => vars::OTLP_HEADERS;
    }

    /// How many ended spans may wait for export (`OTEL_BSP_MAX_QUEUE_SIZE`, default 2048). Spans
    /// past it are dropped, counted in `govops.telemetry.dropped` and reported at shutdown.
    pub fn span_queue_size(mut self, spans: usize) -> Self {
        self.settings.set(vars::SPAN_QUEUE_SIZE, spans.to_string());
        self
    }

    /// The file drift baselines are restored from at start-up (when it exists) and saved to at
    /// shutdown, so that a restart does not forget each model's history; replaces the policy's
    /// `[drift] baseline`.
    pub fn drift_baseline(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.drift_baseline = Some(path.into());
        self
    }

    /// Rotates the audit log (`GOVOPS_AUDIT_LOG`) when the next record would take it past
    /// `bytes`: the file is renamed `NAME.SEQ` and the chain goes on in a fresh one. Without it
    /// the log is never rotated.
    pub fn audit_rotate_bytes(mut self, bytes: u64) -> Self {
        self.audit_rotate_bytes = Some(bytes);
        self
    }

    /// Reads variables from `env` instead of the process environment; values set in code still win.
    /// Tests use this so that they never touch the process environment.
    pub fn env(mut self, env: EnvSource) -> Self {
        self.env = Some(env);
        self
    }

    /// How long dropping the handle may take to flush: 5 s unless set.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Whether log events are also written to stderr in a human format (on unless set).
    pub fn stderr_logs(mut self, enabled: bool) -> Self {
        self.stderr_logs = enabled;
        self
    }

    /// Which spans and events are recorded, in `RUST_LOG` syntax; else `RUST_LOG`, else `info`.
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = Some(directives.into());
        self
    }

    fn source(&self) -> EnvSource {
        self.env.clone().unwrap_or_else(EnvSource::from_process)
    }

    /// Validates the metadata without starting anything: what `init` would accept or report.
    ///
    /// # Errors
    ///
    /// Every gap found.
    pub fn validate(&self) -> Result<Config, Gaps> {
        Config::load(&self.source(), &self.settings)
    }

    /// Validates, builds the pipeline and installs the global subscriber.
    ///
    /// # Errors
    ///
    /// [`InitError::Config`] with every gap; [`InitError::AlreadyInitialized`] on a second call in
    /// one process; [`InitError::SubscriberAlreadySet`] when other code set a global subscriber;
    /// the others when the pipeline cannot be built.
    pub fn try_init(self) -> Result<GovOps, InitError> {
        if INSTALLED.swap(true, Ordering::SeqCst) {
            return Err(InitError::AlreadyInitialized);
        }
        let result = self.install();
        if result.is_err() {
            INSTALLED.store(false, Ordering::SeqCst);
        }
        result
    }

    fn install(self) -> Result<GovOps, InitError> {
        let source = self.source();
        let config =
            Config::load(&source, &self.settings).map_err(|gaps| InitError::Config { gaps })?;
        let baseline = self
            .drift_baseline
            .clone()
            .or_else(|| config.policy_rules.drift_baseline.clone());
        let pipeline = Pipeline::build(&config)?
            .with_drift_baseline(&config, baseline)?
            .with_audit(&config, self.audit_rotate_bytes)?;
        let filter = self
            .log_filter
            .clone()
            .or_else(|| source.get("RUST_LOG").map(str::to_owned))
            .unwrap_or_else(|| "info".to_owned());
        if tracing::subscriber::set_global_default(pipeline.subscriber(
            &config,
            &filter,
            self.stderr_logs,
        ))
        .is_err()
        {
            // Nothing was exported yet; stop the threads this attempt started.
            let _ = pipeline.shutdown(Duration::from_millis(100));
            return Err(InitError::SubscriberAlreadySet);
        }
        opentelemetry::global::set_tracer_provider(pipeline.tracer_provider().clone());
        opentelemetry::global::set_meter_provider(pipeline.meter_provider().clone());
        opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ]));
        Ok(GovOps::new(config, pipeline, self.shutdown_timeout))
    }

    /// Like [`Builder::try_init`], but on error prints one report to stderr and exits: code 78
    /// (`EX_CONFIG`) for gaps in the metadata, see [`InitError::exit_code`] for the rest.
    pub fn init(self) -> GovOps {
        match self.try_init() {
            Ok(handle) => handle,
            Err(error) => {
                eprintln!("{error}");
                std::process::exit(error.exit_code())
            }
        }
    }
}

/// The variables govops reads, for tools that list them.
#[must_use]
pub fn variables() -> &'static [&'static str] {
    &VARIABLES
}
