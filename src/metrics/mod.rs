//! Metrics in Prometheus text exposition (format 0.0.4), built at scrape time from the
//! counters and snapshots the rest of the library keeps.
//!
//! - [`exposition`]: families, samples, escaping, the text encoder.
//! - [`gossip`]: the families of one gossip peer from a [`gossip::Snapshot`].
//! - [`histogram`]: a duration histogram with fixed buckets (commit durations).
//! - [`http`]: the optional operations listener (`operations.listenAddress` with
//!   `metrics.provider: prometheus`): `/metrics`, `/healthz`, `/version`, `/logspec`.
//! - [`health`]: the `/healthz` checks and Fabric's response body.
//! - [`logspec`]: Fabric's logging spec over the library's `tracing` targets.

pub mod exposition;
pub mod gossip;
pub mod health;
pub mod histogram;
pub mod http;
pub mod logspec;

pub use exposition::{encode, Family, HistogramValue, Kind, CONTENT_TYPE};
pub use gossip::{families, ChannelMetrics, Snapshot};
pub use histogram::DurationHistogram;
