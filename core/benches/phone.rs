//! `PhoneParser::parse` (table-driven) against `phonenumber::parse` + `number_type` on a mix
//! of national and international inputs; prints the median cost per number and the ratio.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // benchmark setup: failing loudly is the point

use criterion::{criterion_group, Criterion};
use phonenumber::metadata::DATABASE;
use pumpguard_core::phone::{PhoneParser, Region};
use std::hint::black_box;
use std::time::Instant;

const NUMBERS: [(Option<&str>, &str); 12] = [
    (None, "+1 415 555 0123"),
    (Some("US"), "(415) 555-0123"),
    (Some("GB"), "07911 123456"),
    (None, "+44 20 7946 0000"),
    (Some("DE"), "030 123456"),
    (Some("IN"), "91234 56789"),
    (Some("BR"), "(11) 96123-4567"),
    (Some("AR"), "011 15-2345-6789"),
    (None, "+86 138 0013 8000"),
    (None, "+7 912 345-67-89"),
    (None, "+39 06 1234 5678"),
    (None, "+234 803 123 4567"),
];

fn ours() -> Vec<(PhoneParser, &'static str)> {
    NUMBERS
        .iter()
        .map(|&(region, number)| (PhoneParser::new(region.and_then(Region::from_code)), number))
        .collect()
}

fn reference() -> Vec<(Option<phonenumber::country::Id>, &'static str)> {
    NUMBERS.iter().map(|&(region, number)| (region.map(|r| r.parse().expect("id")), number)).collect()
}

fn run_ours(inputs: &[(PhoneParser, &str)]) {
    for (parser, number) in inputs {
        let parsed = parser.parse(black_box(number));
        black_box(parsed.map(|n| n.number_type()).ok());
    }
}

fn run_reference(inputs: &[(Option<phonenumber::country::Id>, &str)]) {
    for (country, number) in inputs {
        let parsed = phonenumber::parse(*country, black_box(number));
        black_box(parsed.map(|n| n.number_type(&DATABASE)).ok());
    }
}

fn bench(c: &mut Criterion) {
    let (ours, reference) = (ours(), reference());
    run_reference(&reference); // decode the crate's metadata outside the measurement
    let mut group = c.benchmark_group("phone_parse_and_type_x12");
    group.bench_function("pumpguard", |b| b.iter(|| run_ours(&ours)));
    group.bench_function("phonenumber", |b| b.iter(|| run_reference(&reference)));
    group.finish();
}

/// Median over batches of the time per number, in nanoseconds.
fn median_ns(mut run: impl FnMut(), batches: usize, iterations: usize) -> f64 {
    let mut samples: Vec<f64> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                run();
            }
            start.elapsed().as_nanos() as f64 / (iterations * NUMBERS.len()) as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let (ours, reference) = (ours(), reference());
    run_reference(&reference);
    let ours_ns = median_ns(|| run_ours(&ours), 31, 2_000);
    let reference_ns = median_ns(|| run_reference(&reference), 31, 50);
    println!(
        "median per number (parse + type): pumpguard {ours_ns:.0} ns, phonenumber {reference_ns:.0} ns, ratio {:.1}x",
        reference_ns / ours_ns
    );
}
