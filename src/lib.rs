//! govops
