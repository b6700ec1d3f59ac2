//! Agent loops on the server: each trace's tool calls counted in one function call, so a trace
//! that crosses processes is judged on all its calls; deciding stays here, with
//! [`loops::judge`](crate::loops::judge), so that every state keeper decides alike.

use super::RedisOptions;
use super::client::Client;
use crate::loops::{isolated, judge};
use crate::policy::{Action, Guards, Trip};
use crate::state::{Pending, StateError};

/// A trace's key.
pub(super) fn trace_key(namespace: &str, trace: u128) -> String {
    format!("{namespace}:v1:l:{trace:032x}")
}

/// [`GuardState::tool_call`](crate::state::GuardState::tool_call) on the server. The trace is
/// isolated in the same function call that trips it, when the guard denies.
pub(super) fn tool_call(
    client: &Client,
    options: &RedisOptions,
    trace: u128,
    call: u64,
    guards: &Guards,
) -> Pending<Option<Trip>> {
    let keys = [trace_key(&options.namespace, trace)];
    let args = [
        call.to_string(),
        guards.max_tool_calls.to_string(),
        guards.max_repeats.to_string(),
        if guards.agent_loop == Action::Deny {
            "1"
        } else {
            "0"
        }
        .to_owned(),
        options.trace_ttl.as_millis().max(1).to_string(),
    ];
    let guards = guards.clone();
    client.request(
        move |inner| async move {
            let reply = inner.fcall("govops_v1_tool_call", &keys, &args).await?;
            match *reply {
                [_, _, 1] => Ok(Some(isolated())),
                [calls, repeats, 0] => {
                    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
                    Ok(judge(count(calls), count(repeats), &guards))
                }
                _ => Err(StateError::Server(format!(
                    "unexpected tool call reply {reply:?}"
                ))),
            }
        },
        None,
    )
}

/// Forgets a trace's tool calls.
pub(super) fn end_trace(client: &Client, options: &RedisOptions, trace: u128) {
    let keys = [trace_key(&options.namespace, trace)];
    client
        .inner()
        .fire(move |inner| async move { inner.del(&keys).await });
}
