//! pumpguard-sim: a closed-loop traffic simulator for measuring what a policy does.
//!
//! A [`mix::Mix`] describes real users (daily curve, segments, shared addresses, real browser
//! and app header sets, numbers from every valid range) and pumping campaigns (named,
//! parameterised, some adaptive). [`sim::run`] drives a [`guard::Guard`] request by request
//! (the core engine in process, or a live host over HTTP), so users and bots react to what
//! they are told. The ground truth stays on this side; [`scoreboard::Scoreboard`] and
//! [`report`] turn it into figures and an HTML page.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bot_score;
pub mod clients;
pub mod curve;
pub mod guard;
pub mod intel;
pub mod known_numbers;
pub mod mix;
pub mod network;
pub mod numbers;
pub mod prices;
pub mod replayed;
pub mod report;
pub mod rng;
pub mod scoreboard;
pub mod sim;
pub mod solver_ids;
pub mod svg;
