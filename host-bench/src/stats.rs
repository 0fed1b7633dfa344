//! Summaries of repeated timings.
//!
//! Mark times on a shared machine are skewed: the fastest run is what the code
//! can do, the slow tail is interference. host-bench therefore quotes the
//! median, gives the minimum and maximum, and measures spread with the median
//! absolute deviation, which one disturbed repetition cannot inflate the way
//! it inflates a standard deviation.

/// A summary of timed repetitions, in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Every sample, in the order taken.
    pub samples: Vec<f64>,
    /// The fastest sample.
    pub min: f64,
    /// The median sample.
    pub median: f64,
    /// The slowest sample.
    pub max: f64,
    /// The median absolute deviation from the median.
    pub mad: f64,
}

impl Summary {
    /// Summarises `samples`, which must not be empty (the runner takes at
    /// least one repetition).
    pub fn of(samples: Vec<f64>) -> Summary {
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let median = median_sorted(&sorted);
        let mut dev: Vec<f64> = sorted.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        Summary {
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            mad: median_sorted(&dev),
            median,
            samples,
        }
    }
}

fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The geometric mean of positive ratios (`None` for none).
pub fn geomean(ratios: &[f64]) -> Option<f64> {
    if ratios.is_empty() {
        return None;
    }
    let s: f64 = ratios.iter().map(|r| r.ln()).sum();
    Some((s / ratios.len() as f64).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max_mad() {
        let s = Summary::of(vec![5.0, 1.0, 3.0, 100.0, 2.0]);
        assert_eq!((s.min, s.median, s.max), (1.0, 3.0, 100.0));
        // Deviations 2, 2, 0, 97, 1 -> sorted 0 1 2 2 97 -> 2.
        assert_eq!(s.mad, 2.0);
        assert_eq!(s.samples, vec![5.0, 1.0, 3.0, 100.0, 2.0]);
        let e = Summary::of(vec![1.0, 3.0]);
        assert_eq!((e.median, e.mad), (2.0, 1.0));
    }

    #[test]
    fn geomean_of_ratios() {
        let g = geomean(&[2.0, 0.5]).unwrap();
        assert!((g - 1.0).abs() < 1e-12);
        assert_eq!(geomean(&[]), None);
    }
}
