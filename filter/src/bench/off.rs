//! The bench hooks of every build without a bench feature: no-ops the compiler removes.

use pumpguard_core::Decision;

use super::{Span, Stage};
use crate::abi::Action;

#[inline(always)]
pub fn floor_headers(_end_of_stream: bool) -> Option<Action> {
    None
}

#[inline(always)]
pub fn floor_body(_end_of_stream: bool) -> Option<Action> {
    None
}

#[inline(always)]
pub fn timed<T>(_span: Span, work: impl FnOnce() -> T) -> T {
    work()
}

#[inline(always)]
pub fn stops_at(_stage: Stage) -> bool {
    false
}

#[inline(always)]
pub fn judged(_decision: &Decision) -> bool {
    false
}
