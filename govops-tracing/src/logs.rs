//! Contract section 6: a log event emitted inside a governed call carries the call's context, so
//! that traces, logs and metrics join on it.

use std::time::Duration;

use govops_core::contract::attr;
use opentelemetry::logs::{AnyValue, LogRecord as _};
use opentelemetry::{InstrumentationScope, StringValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};

use crate::call::{Operation, current_call};
use crate::intern::intern;
use govops_protocol::field;

/// A log processor that adds the governed call's context (contract section 6: service,
/// environment, session, user, operation, model or tool or agent name) to each log record
/// emitted inside one. Add it before [`RedactingLogs`](crate::RedactingLogs) (which then scans
/// what it adds) and the exporting processor: `init()` does; build it yourself only for a logger
/// provider of your own. Trace and span ids are already there: the SDK takes
/// them from the OpenTelemetry context the contract layer attaches while a governed span is
/// entered.
#[derive(Debug)]
pub struct CallContextLogs {
    pub(crate) service: StringValue,
    pub(crate) environment: StringValue,
}

impl CallContextLogs {
    /// The context of `config`'s application.
    #[must_use]
    pub fn new(config: &govops_core::Config) -> Self {
        CallContextLogs {
            service: intern(&config.app_name),
            environment: config.environment.as_str().into(),
        }
    }
}

fn any(value: &StringValue) -> AnyValue {
    AnyValue::String(value.clone())
}

impl LogProcessor for CallContextLogs {
    fn emit(&self, record: &mut SdkLogRecord, _scope: &InstrumentationScope) {
        let Some(call) = current_call() else {
            return;
        };
        let identity = &call.identity;
        record.add_attribute("service.name", any(&self.service));
        record.add_attribute("deployment.environment.name", any(&self.environment));
        record.add_attribute(attr::SESSION_ID, any(&identity.session));
        record.add_attribute(attr::USER_ID, any(&identity.user));
        record.add_attribute(attr::OPERATION_NAME, identity.operation.name());
        if let Some(model) = &identity.model {
            record.add_attribute(attr::REQUEST_MODEL, any(model));
        }
        if let Some(provider) = &identity.provider {
            record.add_attribute(attr::PROVIDER_NAME, any(provider));
        }
        if let Some(subject) = &identity.subject {
            let key = match identity.operation {
                Operation::ExecuteTool => attr::TOOL_NAME,
                Operation::InvokeAgent => attr::AGENT_NAME,
                _ => field::NAME,
            };
            record.add_attribute(key, any(subject));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}
