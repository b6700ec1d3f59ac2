//! The providers an application registers, and the request descriptor a routed call carries.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::ProviderError;

/// A boxed, sendable future: what a registered call returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

type CallFn<Req, T> = Box<dyn Fn(Req) -> BoxFuture<Result<T, ProviderError>> + Send + Sync>;
type ProbeFn = Box<dyn Fn() -> BoxFuture<Result<(), ProviderError>> + Send + Sync>;

/// What the router knows about a provider besides its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    /// The provider's name, as events and errors name it (`openai-eu`).
    pub name: Arc<str>,
    /// The model it serves (`gpt-4o`).
    pub model: Arc<str>,
    /// The model's context window: the most input tokens a request may carry.
    pub context_window: u64,
}

/// A provider the application registers: its description and the async call that does the real
/// work (and, optionally, a cheap health probe).
pub struct Provider<Req, T> {
    pub(crate) info: ProviderInfo,
    pub(crate) config_version: Option<Arc<str>>,
    pub(crate) call: CallFn<Req, T>,
    pub(crate) probe: Option<ProbeFn>,
}

impl<Req, T> Provider<Req, T> {
    /// A provider named `name` serving `model` with a context window of `context_window` input
    /// tokens; `call` makes the real call.
    pub fn new<F, Fut>(name: &str, model: &str, context_window: u64, call: F) -> Self
    where
        F: Fn(Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, ProviderError>> + Send + 'static,
    {
        Self {
            info: ProviderInfo {
                name: Arc::from(name),
                model: Arc::from(model),
                context_window,
            },
            config_version: None,
            call: Box::new(move |req| Box::pin(call(req))),
            probe: None,
        }
    }

    /// The version or hash of the configuration deployed behind this provider (prompt templates,
    /// safety settings, model version). `Router::set_config_version` updates it later.
    #[must_use]
    pub fn config_version(mut self, version: &str) -> Self {
        self.config_version = Some(Arc::from(version));
        self
    }

    /// An active health probe, which `Router::probe` runs: `Ok` when the provider can serve.
    #[must_use]
    pub fn probe<F, Fut>(mut self, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ProviderError>> + Send + 'static,
    {
        self.probe = Some(Box::new(move || Box::pin(probe())));
        self
    }

    /// Name, model and context window.
    #[must_use]
    pub fn info(&self) -> &ProviderInfo {
        &self.info
    }
}

impl<Req, T> fmt::Debug for Provider<Req, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("info", &self.info)
            .field("config_version", &self.config_version)
            .field("probe", &self.probe.is_some())
            .finish_non_exhaustive()
    }
}

/// What the router needs to know about one request: its estimated input tokens (a provider whose
/// context window is smaller cannot serve it) and, optionally, which providers the policy allows.
///
/// ```
/// use govops_core::failover::{ProviderInfo, Request};
///
/// let allow = |p: &ProviderInfo| &*p.model != "gpt-3.5-turbo";
/// let request = Request::new(12_000).allow(&allow);
/// # let _ = request;
/// ```
///
/// With a policy file, the predicate is `Policy::check_allowed` on the provider and model:
/// `|p| policy.check_allowed(env, &prices, Some(&p.model), Some(&p.name), None).is_none()`.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    input_tokens: u64,
    allow: Option<&'a (dyn Fn(&ProviderInfo) -> bool + Sync)>,
}

impl<'a> Request<'a> {
    /// A request of `input_tokens` estimated input tokens that the policy lets any provider serve.
    #[must_use]
    pub const fn new(input_tokens: u64) -> Self {
        Self {
            input_tokens,
            allow: None,
        }
    }

    /// Only providers for which `allow` is true may serve the request.
    #[must_use]
    pub fn allow(mut self, allow: &'a (dyn Fn(&ProviderInfo) -> bool + Sync)) -> Self {
        self.allow = Some(allow);
        self
    }

    /// The estimated input tokens.
    #[must_use]
    pub const fn input_tokens(&self) -> u64 {
        self.input_tokens
    }

    /// Whether the provider's model holds the request's input.
    #[must_use]
    pub fn fits(&self, info: &ProviderInfo) -> bool {
        self.input_tokens <= info.context_window
    }

    /// Whether the policy allows the provider and its model.
    #[must_use]
    pub fn allows(&self, info: &ProviderInfo) -> bool {
        self.allow.is_none_or(|allow| allow(info))
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("input_tokens", &self.input_tokens)
            .field("allow", &self.allow.is_some())
            .finish()
    }
}
