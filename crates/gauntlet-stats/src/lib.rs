//! Statistics for simulations, comparisons and drift: pure functions, no dependencies.

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A proportion with its 95% Wilson score interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Proportion {
    pub successes: u64,
    pub trials: u64,
    pub rate: f64,
    pub low: f64,
    pub high: f64,
}

/// The Wilson score interval for `successes` out of `trials` at confidence `z` (use
/// [`Z95`]). Unlike the normal approximation it stays inside [0, 1] and behaves at 0 and n.
pub fn wilson(successes: u64, trials: u64, z: f64) -> Proportion {
    if trials == 0 {
        return Proportion {
            successes,
            trials,
            rate: 0.0,
            low: 0.0,
            high: 1.0,
        };
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Proportion {
        successes,
        trials,
        rate: p,
        low: (center - half).max(0.0),
        high: (center + half).min(1.0),
    }
}

/// Mean of `values`; 0 for none.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// The `p`-th percentile (0–100) by nearest rank of already sorted values; 0 for none.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Summary of a sample: mean, p50, p95, max.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Distribution {
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

pub fn distribution(values: &mut [f64]) -> Distribution {
    values.sort_by(f64::total_cmp);
    Distribution {
        mean: mean(values),
        p50: percentile_sorted(values, 50.0),
        p95: percentile_sorted(values, 95.0),
        max: values.last().copied().unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-4
    }

    /// Reference values: Wilson (1927); also tabulated in Newcombe, "Two-sided confidence
    /// intervals for the single proportion", Statistics in Medicine 17 (1998), table I.
    #[test]
    fn wilson_matches_published_values() {
        for (x, n, low, high) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
            (8, 10, 0.4902, 0.9433),
            (50, 100, 0.4038, 0.5962),
            (10, 10, 0.7225, 1.0),
        ] {
            let w = wilson(x, n, Z95);
            assert!(
                close(w.low, low) && close(w.high, high),
                "{x}/{n}: got [{:.4}, {:.4}], want [{low}, {high}]",
                w.low,
                w.high
            );
        }
        assert_eq!(wilson(0, 0, Z95).high, 1.0);
    }

    #[test]
    fn distributions() {
        let mut v: Vec<f64> = (1..=20).map(f64::from).collect();
        let d = distribution(&mut v);
        assert_eq!((d.mean, d.p50, d.p95, d.max), (10.5, 10.0, 19.0, 20.0));
    }
}
