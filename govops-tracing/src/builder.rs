//! `govops::configure()`: metadata set in code, an injectable environment, and start-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use govops_core::config::VARIABLES;
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
/// use govops_core::config::Environment;
///
/// let _govops = govops_tracing::configure()
///     .app_name("support-bot")
///     .environment(Environment::Dev) // or "dev", as GOVOPS_ENVIRONMENT would hold it
///     .span_queue_size(4096)
///     .init();
/// ```
pub fn configure() -> Builder {
    Builder::default()
}

/// Configuration for [`GovOps`]: values set here win over the environment.
///
/// Every setter of a start-up variable takes its typed value (`Environment::Prod`, a `usize`, a
/// `Duration`, a `bool`, a path), or for the keywords the text the variable would hold, and goes
/// through the same validation as the environment's value.
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

/// Writes the builder's setter for each row of the start-up table: the variable's doc, then an
/// example; the value goes through [`Settings`]' typed setter of the same name.
macro_rules! builder_setters {
    ($(
        $(#[$meta:meta])*
        $NAME:ident = $name:literal as $field:ident, $presence:expr, accepted $accepted:expr;
        fn $setter:ident($arg:ty) via $via:ident, e.g. $example:literal;
    )+) => {
        impl Builder {
            $(
                $(#[$meta])*
                #[doc = concat!(
                    "\n\nSets `", $name, "` in code: it wins over the environment and is checked ",
                    "the same way.\n\n```\n",
                    "# use govops_core::config::{DataClassification, Environment, OtlpProtocol};\n",
                    "# use std::time::Duration;\n",
                    "let builder = govops_tracing::configure().", stringify!($setter), "(", $example, ");\n",
                    "# let _ = builder;\n```"
                )]
                pub fn $setter(mut self, value: $arg) -> Self {
                    self.settings.$setter(value);
                    self
                }
            )+
        }
    };
}

govops_core::for_each_variable!(builder_setters);

impl Builder {
    /// The file drift baselines are restored from at start-up (when it exists) and saved to at
    /// shutdown, so that a restart does not forget each model's history; replaces the policy's
    /// `[drift] baseline`.
    ///
    /// ```
    /// let builder = govops_tracing::configure().drift_baseline("drift.json");
    /// # let _ = builder;
    /// ```
    pub fn drift_baseline(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.drift_baseline = Some(path.into());
        self
    }

    /// Rotates the audit log (`GOVOPS_AUDIT_LOG`) when the next record would take it past
    /// `bytes`: the file is renamed `NAME.SEQ` and the chain goes on in a fresh one. Without it
    /// the log is never rotated.
    ///
    /// ```
    /// let builder = govops_tracing::configure().audit_rotate_bytes(64 << 20); // 64 MiB
    /// # let _ = builder;
    /// ```
    pub fn audit_rotate_bytes(mut self, bytes: u64) -> Self {
        self.audit_rotate_bytes = Some(bytes);
        self
    }

    /// Reads variables from `env` instead of the process environment; values set in code still win.
    /// Tests use this so that they never touch the process environment.
    ///
    /// ```
    /// use govops_core::EnvSource;
    ///
    /// let builder = govops_tracing::configure().env(EnvSource::from_pairs([("GOVOPS_ENVIRONMENT", "test")]));
    /// # let _ = builder;
    /// ```
    pub fn env(mut self, env: EnvSource) -> Self {
        self.env = Some(env);
        self
    }

    /// How long dropping the handle may take to flush: 5 s unless set.
    ///
    /// ```
    /// let builder = govops_tracing::configure().shutdown_timeout(std::time::Duration::from_secs(2));
    /// # let _ = builder;
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Whether log events are also written to stderr in a human format (on unless set).
    ///
    /// ```
    /// let builder = govops_tracing::configure().stderr_logs(false);
    /// # let _ = builder;
    /// ```
    pub fn stderr_logs(mut self, enabled: bool) -> Self {
        self.stderr_logs = enabled;
        self
    }

    /// Which spans and events are recorded, in `RUST_LOG` syntax; else `RUST_LOG`, else `info`.
    ///
    /// ```
    /// let builder = govops_tracing::configure().log_filter("info,my_app=debug");
    /// # let _ = builder;
    /// ```
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
        // An unreachable shared state is not a gap: the server may come up later (section 8).
        if let Some(warning) = config.state_warning() {
            eprintln!("govops: warning: {warning}");
        }
        let baseline = self
            .drift_baseline
            .clone()
            .or_else(|| config.policy_rules.drift_baseline.clone());
        let pipeline = Pipeline::build(&config)?
            .with_drift_baseline(&config, baseline)?
            .with_audit(&config, self.audit_rotate_bytes)?
            .with_state(&config)?;
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
