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

/// Exact two-sided McNemar test for paired binary outcomes: `b` pairs where only the first
/// passed, `c` pairs where only the second passed. Returns the p-value (1 when b = c = 0).
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // P(X <= k) for X ~ Binomial(n, 1/2), summed in log space to stay exact for large n.
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_choose = 0.0_f64; // ln C(n, 0)
    let mut tail = 0.0_f64;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// A deterministic generator for resampling (SplitMix64): bootstrap results depend only on the
/// data and the seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The mean of paired differences with a 95% percentile-bootstrap interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanDifference {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

impl MeanDifference {
    /// Whether the interval excludes zero.
    pub fn significant(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// Paired bootstrap of `mean(b - a)` with `resamples` resamples, seeded.
pub fn paired_bootstrap(differences: &[f64], resamples: usize, seed: u64) -> MeanDifference {
    let n = differences.len();
    let m = mean(differences);
    if n < 2 {
        return MeanDifference {
            mean: m,
            low: m,
            high: m,
        };
    }
    let mut rng = SplitMix(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| differences[rng.below(n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * resamples as f64) as usize).min(resamples - 1)];
    MeanDifference {
        mean: m,
        low: at(0.025),
        high: at(0.975),
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
    fn mcnemar_matches_exact_binomial_values() {
        // 2 × P(X ≤ 2 | n = 12, p = 1/2) = 2 × 79 / 4096.
        assert!((mcnemar_exact(10, 2) - 158.0 / 4096.0).abs() < 1e-12);
        assert!((mcnemar_exact(2, 10) - 158.0 / 4096.0).abs() < 1e-12);
        // 2 × P(X ≤ 0 | n = 5) = 2 / 32.
        assert!((mcnemar_exact(0, 5) - 0.0625).abs() < 1e-12);
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // Large n stays finite and tiny.
        let p = mcnemar_exact(900, 100);
        assert!(p > 0.0 && p < 1e-100, "{p}");
    }

    #[test]
    fn bootstrap_is_seeded_and_finds_real_shifts() {
        let shifted: Vec<f64> = (0..200)
            .map(|i| 0.3 + ((i * 37) % 11) as f64 / 100.0)
            .collect();
        let a = paired_bootstrap(&shifted, 2000, 7);
        assert_eq!(a, paired_bootstrap(&shifted, 2000, 7));
        assert!(a.significant() && a.low > 0.3, "{a:?}");
        let centred: Vec<f64> = (0..200)
            .map(|i| if i % 2 == 0 { 0.1 } else { -0.1 })
            .collect();
        assert!(!paired_bootstrap(&centred, 2000, 7).significant());
    }

    #[test]
    fn distributions() {
        let mut v: Vec<f64> = (1..=20).map(f64::from).collect();
        let d = distribution(&mut v);
        assert_eq!((d.mean, d.p50, d.p95, d.max), (10.5, 10.0, 19.0, 20.0));
    }
}
