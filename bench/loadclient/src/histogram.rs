//! A latency histogram shared by many tasks: exact microseconds below 1,024 µs, then 64
//! buckets per power of two (under 1.6% error), so millions of deliveries cost no memory.

use std::sync::atomic::{AtomicU64, Ordering};

const LINEAR: u64 = 1024;
const SUB_BITS: u32 = 6;
const LINEAR_BITS: u32 = 10;
const BUCKETS: usize = LINEAR as usize + ((64 - LINEAR_BITS) << SUB_BITS) as usize;

pub struct Histogram {
    counts: Vec<AtomicU64>,
}

fn bucket_of(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let power = 63 - us.leading_zeros();
    let sub = (us >> (power - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    LINEAR as usize + (((power - LINEAR_BITS) << SUB_BITS) as u64 + sub) as usize
}

/// The smallest value that lands in `bucket`.
fn floor_of(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < LINEAR {
        return bucket;
    }
    let above = bucket - LINEAR;
    let power = (above >> SUB_BITS) as u32 + LINEAR_BITS;
    let sub = above & ((1 << SUB_BITS) - 1);
    (1 << power) | (sub << (power - SUB_BITS))
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn record(&self, us: u64) {
        self.counts[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The value at quantile `q` (0..=1), as the floor of its bucket; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count.load(Ordering::Relaxed);
            if seen >= rank {
                return floor_of(bucket);
            }
        }
        floor_of(BUCKETS - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip() {
        for us in [0, 1, 1023, 1024, 1040, 5000, 123_456, 1 << 40, u64::MAX] {
            let floor = floor_of(bucket_of(us));
            assert!(floor <= us, "{us}");
            assert!(us - floor <= us / 64, "{us}");
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles() {
        let histogram = Histogram::new();
        for us in 1..=100 {
            histogram.record(us);
        }
        assert_eq!(histogram.quantile(0.5), 50);
        assert_eq!(histogram.quantile(0.99), 99);
        assert_eq!(Histogram::new().quantile(0.5), 0);
    }
}
