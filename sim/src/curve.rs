//! The daily arrival curve: how many people ask for a code at each local hour, relative to the
//! day's mean (night trough, morning rise, lunchtime and evening peaks).

/// Relative demand per local hour, 0–23 (mean 1.0 over the day).
const HOURLY: [f64; 24] = [
    0.33, 0.20, 0.13, 0.11, 0.11, 0.17, 0.33, 0.61, 0.94, 1.21, 1.38, 1.49, 1.54, 1.49, 1.43, 1.43, 1.49,
    1.60, 1.71, 1.76, 1.65, 1.38, 0.99, 0.61,
];

/// Demand at `at_ms` (UTC) for a country `utc_offset_hours` east of UTC, interpolated between hours.
pub fn demand(at_ms: u64, utc_offset_hours: i8) -> f64 {
    let day_ms = 86_400_000i64;
    let local = (at_ms as i64 + i64::from(utc_offset_hours) * 3_600_000).rem_euclid(day_ms);
    let hour = local as f64 / 3_600_000.0;
    let h0 = hour.floor() as usize % 24;
    let h1 = (h0 + 1) % 24;
    let frac = hour - hour.floor();
    HOURLY[h0] * (1.0 - frac) + HOURLY[h1] * frac
}

/// The highest demand of any hour.
pub fn peak() -> f64 {
    HOURLY.iter().copied().fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_is_one_and_nights_are_quiet() {
        let mean: f64 = HOURLY.iter().sum::<f64>() / 24.0;
        assert!((mean - 1.0).abs() < 0.02, "{mean}");
        assert!(demand(3 * 3_600_000, 0) < 0.2);
        assert!(demand(19 * 3_600_000, 0) > 1.5);
        // 19:00 in Berlin is 18:00 UTC.
        assert!((demand(18 * 3_600_000, 1) - HOURLY[19]).abs() < 1e-9);
    }
}
