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

/// The standard normal cumulative distribution function.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit; relative error < 1.2e-7).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Result of a two-sample test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestResult {
    pub statistic: f64,
    pub z: f64,
    pub p_value: f64,
}

/// Two-sided Mann–Whitney U test of `a` against `b`: normal approximation with tie correction
/// and continuity correction (as `scipy.stats.mannwhitneyu(method="asymptotic")`). The
/// statistic is U of `a`. Returns p = 1 when either sample is empty or all values tie.
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> TestResult {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return TestResult {
            statistic: 0.0,
            z: 0.0,
            p_value: 1.0,
        };
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1..=j+1 share their average.
        let avg = (i + j + 2) as f64 / 2.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        for item in &all[i..=j] {
            if item.1 {
                rank_sum_a += avg;
            }
        }
        i = j + 1;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u = rank_sum_a - n1f * (n1f + 1.0) / 2.0;
    let mean = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if var <= 0.0 {
        return TestResult {
            statistic: u,
            z: 0.0,
            p_value: 1.0,
        };
    }
    let diff = u - mean;
    let corrected = if diff > 0.0 {
        diff - 0.5
    } else if diff < 0.0 {
        diff + 0.5
    } else {
        0.0
    };
    let z = corrected / var.sqrt();
    TestResult {
        statistic: u,
        z,
        p_value: (2.0 * normal_cdf(-z.abs())).min(1.0),
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
    fn normal_cdf_matches_tables() {
        assert!((normal_cdf(Z95) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
    }

    #[test]
    fn mann_whitney_matches_the_normal_approximation() {
        // U = 0, mean 12.5, sd sqrt(5·5·11/12): z = (0 − 12.5 + 0.5)/4.7871 → p = 0.01219.
        let r = mann_whitney_u(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
        assert_eq!(r.statistic, 0.0);
        assert!((r.p_value - 0.012_185).abs() < 1e-4, "{r:?}");
        // Symmetric in the other direction.
        let r = mann_whitney_u(&[6.0, 7.0, 8.0, 9.0, 10.0], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(r.statistic, 25.0);
        assert!((r.p_value - 0.012_185).abs() < 1e-4);
        // U = 0 with n = 3, 4: z = −5.5/√8 → p = 0.05183.
        let r = mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0, 7.0]);
        assert!((r.p_value - 0.051_83).abs() < 1e-4, "{r:?}");
        // Identical samples, and all ties.
        assert_eq!(
            mann_whitney_u(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).p_value,
            1.0
        );
        assert_eq!(mann_whitney_u(&[1.0; 4], &[1.0; 5]).p_value, 1.0);
        // Ties across samples are handled (0/1 scores).
        let r = mann_whitney_u(&[1.0; 20], &[0.0; 20]);
        assert!(r.p_value < 1e-6, "{r:?}");
    }

    #[test]
    fn distributions() {
        let mut v: Vec<f64> = (1..=20).map(f64::from).collect();
        let d = distribution(&mut v);
        assert_eq!((d.mean, d.p50, d.p95, d.max), (10.5, 10.0, 19.0, 20.0));
    }
}
