//! Latency percentiles and the JSON report printed on stdout.

use std::fmt::Write as _;

/// One run's result: named numeric fields, an error count and a few error samples.
#[derive(Default)]
pub struct Report {
    fields: Vec<(&'static str, f64)>,
    pub errors: u64,
    samples: Vec<String>,
}

impl Report {
    pub fn set(&mut self, name: &'static str, value: f64) {
        self.fields.push((name, value));
    }

    pub fn error(&mut self, what: String) {
        self.errors += 1;
        if self.samples.len() < 5 {
            self.samples.push(what);
        }
    }

    pub fn merge_errors(&mut self, errors: Errors) {
        self.errors += errors.count;
        for sample in errors.samples {
            if self.samples.len() < 5 {
                self.samples.push(sample);
            }
        }
    }

    /// Adds p50/p99/max (microseconds) of `latencies_us` under `prefix`.
    pub fn latencies(&mut self, prefix: Prefix, latencies_us: &mut [u32]) {
        latencies_us.sort_unstable();
        let (p50, p99, max) = (
            percentile(latencies_us, 0.50),
            percentile(latencies_us, 0.99),
            latencies_us.last().copied().unwrap_or(0),
        );
        let names = match prefix {
            Prefix::Message => ["p50_us", "p99_us", "max_us"],
            Prefix::Handshake => ["handshake_p50_us", "handshake_p99_us", "handshake_max_us"],
        };
        self.set(names[0], f64::from(p50));
        self.set(names[1], f64::from(p99));
        self.set(names[2], f64::from(max));
    }

    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (name, value) in &self.fields {
            let _ = write!(out, "\"{name}\": {}, ", json_number(*value));
        }
        let _ = write!(out, "\"errors\": {}, \"error_samples\": [", self.errors);
        for (i, sample) in self.samples.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&json_string(sample));
        }
        out.push_str("]}");
        out
    }
}

#[derive(Clone, Copy)]
pub enum Prefix {
    Message,
    Handshake,
}

/// Errors gathered by one task, merged into the report at the end.
#[derive(Default)]
pub struct Errors {
    pub count: u64,
    pub samples: Vec<String>,
}

impl Errors {
    pub fn add(&mut self, what: String) {
        self.count += 1;
        if self.samples.len() < 5 {
            self.samples.push(what);
        }
    }
}

fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn json_number(value: f64) -> String {
    if !value.is_finite() {
        "null".into()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value:.3}")
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let data: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&data, 0.5), 50);
        assert_eq!(percentile(&data, 0.99), 99);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn json_shape() {
        let mut report = Report::default();
        report.set("msgs", 3.0);
        report.set("rate", 1.5);
        report.error("bad \"echo\"\n".into());
        assert_eq!(
            report.to_json(),
            "{\"msgs\": 3, \"rate\": 1.500, \"errors\": 1, \"error_samples\": [\"bad \\\"echo\\\"\\u000a\"]}"
        );
    }
}
