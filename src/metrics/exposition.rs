//! Prometheus text exposition, format 0.0.4: one `# HELP` and `# TYPE` line per family, then
//! its samples; label values and help text escaped as the format requires.

use std::fmt::Write;

/// The `Content-Type` of the text this module writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A histogram's state: cumulative counts per upper bound (ascending), sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramValue {
    /// `(le, cumulative count)`; `+Inf` is added by the encoder from `count`.
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Scalar(f64),
    Histogram(HistogramValue),
}

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    labels: Vec<(&'static str, String)>,
    value: Value,
}

/// One metric family: name, help, type and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: Vec<Sample>,
}

impl Family {
    pub fn new(name: &'static str, help: &'static str, kind: Kind) -> Self {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Adds a counter or gauge sample.
    pub fn sample(&mut self, labels: &[(&'static str, &str)], value: f64) -> &mut Self {
        self.samples.push(Sample {
            labels: own(labels),
            value: Value::Scalar(value),
        });
        self
    }

    /// Adds a histogram sample.
    pub fn histogram(&mut self, labels: &[(&'static str, &str)], h: HistogramValue) -> &mut Self {
        self.samples.push(Sample {
            labels: own(labels),
            value: Value::Histogram(h),
        });
        self
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

fn own(labels: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect()
}

/// Escapes a label value: backslash, double quote and line feed.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes help text: backslash and line feed.
pub fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as the format spells it: integers without a fraction, `NaN`, `+Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn write_labels(out: &mut String, labels: &[(&'static str, String)], extra: Option<(&str, &str)>) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    let all = labels.iter().map(|(k, v)| (*k, v.as_str())).chain(extra);
    for (k, v) in all {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "{k}=\"{}\"", escape_label_value(v));
    }
    out.push('}');
}

/// The text of `families`, in order. Families without samples are written too (HELP and
/// TYPE only): a scraper sees the metric exists.
pub fn encode(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families {
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind.as_str());
        for s in &f.samples {
            match &s.value {
                Value::Scalar(v) => {
                    out.push_str(f.name);
                    write_labels(&mut out, &s.labels, None);
                    let _ = writeln!(out, " {}", format_value(*v));
                }
                Value::Histogram(h) => {
                    for (le, n) in &h.buckets {
                        let _ = write!(out, "{}_bucket", f.name);
                        write_labels(&mut out, &s.labels, Some(("le", &format_value(*le))));
                        let _ = writeln!(out, " {n}");
                    }
                    let _ = write!(out, "{}_bucket", f.name);
                    write_labels(&mut out, &s.labels, Some(("le", "+Inf")));
                    let _ = writeln!(out, " {}", h.count);
                    let _ = write!(out, "{}_sum", f.name);
                    write_labels(&mut out, &s.labels, None);
                    let _ = writeln!(out, " {}", format_value(h.sum));
                    let _ = write!(out, "{}_count", f.name);
                    write_labels(&mut out, &s.labels, None);
                    let _ = writeln!(out, " {}", h.count);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_and_gauge_with_labels() {
        let mut c = Family::new(
            "gossip_comm_messages_sent",
            "Number of messages sent",
            Kind::Counter,
        );
        c.sample(&[], 42.0);
        let mut g = Family::new("gossip_state_height", "Current ledger height", Kind::Gauge);
        g.sample(&[("channel", "ch1")], 7.0)
            .sample(&[("channel", "ch2")], 0.0);
        let text = encode(&[c, g]);
        assert_eq!(
            text,
            "# HELP gossip_comm_messages_sent Number of messages sent\n\
             # TYPE gossip_comm_messages_sent counter\n\
             gossip_comm_messages_sent 42\n\
             # HELP gossip_state_height Current ledger height\n\
             # TYPE gossip_state_height gauge\n\
             gossip_state_height{channel=\"ch1\"} 7\n\
             gossip_state_height{channel=\"ch2\"} 0\n"
        );
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label_value(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label_value("x\ny"), "x\\ny");
        assert_eq!(
            escape_help("line\\one\ntwo \"q\""),
            "line\\\\one\\ntwo \"q\""
        );
        let mut f = Family::new("m", "h", Kind::Gauge);
        f.sample(&[("endpoint", "bad\"host\n:1"), ("org", "O\\1")], 1.0);
        let text = encode(&[f]);
        assert!(
            text.ends_with("m{endpoint=\"bad\\\"host\\n:1\",org=\"O\\\\1\"} 1\n"),
            "{text}"
        );
        // One sample per line, whatever the label values hold.
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn values() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(-2.0), "-2");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(1e20), "100000000000000000000");
    }

    #[test]
    fn histogram_has_cumulative_buckets_inf_sum_and_count() {
        let mut f = Family::new(
            "gossip_state_commit_duration",
            "Time it takes to commit a block in seconds",
            Kind::Histogram,
        );
        f.histogram(
            &[("channel", "ch")],
            HistogramValue {
                buckets: vec![(0.005, 1), (0.5, 3)],
                sum: 0.75,
                count: 4,
            },
        );
        let text = encode(&[f]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2..],
            [
                "gossip_state_commit_duration_bucket{channel=\"ch\",le=\"0.005\"} 1",
                "gossip_state_commit_duration_bucket{channel=\"ch\",le=\"0.5\"} 3",
                "gossip_state_commit_duration_bucket{channel=\"ch\",le=\"+Inf\"} 4",
                "gossip_state_commit_duration_sum{channel=\"ch\"} 0.75",
                "gossip_state_commit_duration_count{channel=\"ch\"} 4",
            ]
        );
    }

    #[test]
    fn empty_family_still_declares_itself() {
        let f = Family::new(
            "gossip_leader_election_leader",
            "Peer is leader (1) or follower (0)",
            Kind::Gauge,
        );
        assert!(f.is_empty());
        assert_eq!(
            encode(&[f]),
            "# HELP gossip_leader_election_leader Peer is leader (1) or follower (0)\n\
             # TYPE gossip_leader_election_leader gauge\n"
        );
    }
}
