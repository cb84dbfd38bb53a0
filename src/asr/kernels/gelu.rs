//! GELU (the exact, erf form) over slices.

use super::cpu::multiversion;
use super::softmax::exp_neg;

/// erf with absolute error below 1.5e-7 (Abramowitz and Stegun 7.1.26), branch-free.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / 0.327_591_1f32.mul_add(a, 1.0);
    let p = ((((1.061_405_4f32 * t - 1.453_152_1) * t + 1.421_413_7) * t - 0.284_496_74) * t
        + 0.254_829_6)
        * t;
    let y = 1.0 - p * exp_neg(-a * a);
    y.copysign(x)
}

multiversion! {
    /// Exact (erf) GELU in place.
    fn gelu(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_matches_known_values() {
        let mut g = vec![-3.0, 0.0, 1.0];
        gelu(&mut g);
        assert!(
            (g[2] - 0.841_344_7).abs() < 1e-5 && g[1] == 0.0 && (g[0] + 0.004_049_7).abs() < 1e-5
        );
    }
}
