//! Where telemetry leaves the process: the OTLP exporters, the JSON-lines file, and the
//! accounting of what an export lost (dropped on a full queue, failed, refused by the collector).
//! A new exporter is a file here, wired into the pipeline by `crate::pipeline`.

pub(crate) mod dropped;
pub mod file;
pub(crate) mod otlp;
pub(crate) mod partial;
