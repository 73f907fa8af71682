//! Summary statistics of repeated measurements.

/// Median, extremes and 95th percentile of one setup's samples (seconds, or any unit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Nearest-rank 95th percentile: the smallest sample with at least 95% of samples at or below it.
    pub p95: f64,
    pub n: usize,
}

impl Stats {
    /// `None` for no samples: a figure is never invented.
    pub fn of(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        let rank = (0.95 * n as f64).ceil() as usize;
        Some(Stats {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            p95: sorted[rank.clamp(1, n) - 1],
            n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_count_median_is_the_middle_sample() {
        let s = Stats::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
    }

    #[test]
    fn even_count_median_is_the_mean_of_the_middle_two() {
        assert_eq!(Stats::of(&[4.0, 1.0, 3.0, 2.0]).unwrap().median, 2.5);
    }

    #[test]
    fn p95_is_nearest_rank() {
        let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(Stats::of(&twenty).unwrap().p95, 19.0);
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(Stats::of(&ten).unwrap().p95, 10.0);
        assert_eq!(Stats::of(&[7.0]).unwrap().p95, 7.0);
    }

    #[test]
    fn no_samples_no_stats() {
        assert_eq!(Stats::of(&[]), None);
    }
}
