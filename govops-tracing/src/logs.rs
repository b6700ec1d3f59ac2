//! Contract section 6: a log event emitted inside a governed call carries the call's context, so
//! that traces, logs and metrics join on it.

use std::time::Duration;

use govops_core::contract::attr;
use opentelemetry::logs::{AnyValue, LogRecord as _};
use opentelemetry::{InstrumentationScope, StringValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};

use crate::call::Operation;
use crate::governed;

/// Adds the governed call's context to each log record; runs before the exporting processor.
/// Trace and span ids are already there: the SDK takes them from the OpenTelemetry context the
/// contract layer attaches while a governed span is entered.
#[derive(Debug)]
pub(crate) struct CallContextLogs {
    pub(crate) service: StringValue,
    pub(crate) environment: StringValue,
}

fn any(value: &StringValue) -> AnyValue {
    AnyValue::String(value.clone())
}

impl LogProcessor for CallContextLogs {
    fn emit(&self, record: &mut SdkLogRecord, _scope: &InstrumentationScope) {
        let Some(call) = governed::current_call() else {
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
                _ => "govops.name",
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
