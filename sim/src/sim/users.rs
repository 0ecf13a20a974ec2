//! The real users: their sessions drawn and woken, and a returning user's earlier sign-in.

use pumpguard_core::scenario::Observed;
use pumpguard_core::traffic::TrafficRecord;
use pumpguard_core::Action;

use crate::clients::{ClientKind, Identity};
use crate::curve;
use crate::mix::Legit;
use crate::network::{self, Access, Exit, Pool};
use crate::numbers::{self, Wanted};
use crate::rng::Rng;
use crate::solver_ids::solved_token;

use super::{act, hours_ms, jitter_ms, Actor, Kind, Truth, UserOutcome, Wake, World};

enum Phase {
    Send,
    Confirm { wrong_code: bool },
    Done,
}

pub(super) struct User {
    rng: Rng,
    segment: usize,
    number: String,
    identity: Identity,
    ip: Exit,
    phase: Phase,
    token: Option<String>,
    will_confirm: bool,
    resends_left: u8,
    retries_left: u8,
    patience_ms: u64,
    block_retry_left: bool,
    pub(super) outcome: UserOutcome,
    /// A session of the warm-up before the period: its requests are history, never scored.
    pub(super) warm_up: bool,
}

/// Whether the mix has real users to draw at all.
fn has_users(legit: &Legit) -> bool {
    let total_weight: f64 = legit.countries.iter().map(|c| c.weight.max(0.0)).sum();
    total_weight > 0.0 && legit.sessions_per_day > 0.0
}

/// Sessions of the random segments arriving from `from_ms` to `to_ms`: when, and the number's
/// country, in time order.
fn arrivals(legit: &Legit, rng: &mut Rng, from_ms: u64, to_ms: u64) -> Vec<(u64, &'static numbers::Country)> {
    let total_weight: f64 = legit.countries.iter().map(|c| c.weight.max(0.0)).sum();
    let mut arrivals: Vec<(u64, &'static numbers::Country)> = Vec::new();
    for weighted in &legit.countries {
        let Some(country) = numbers::country(&weighted.name) else { continue };
        // Non-homogeneous Poisson arrivals by thinning under the curve's peak.
        let mean_rate_per_ms =
            legit.sessions_per_day * weighted.weight.max(0.0) / total_weight / 86_400_000.0;
        let max_rate = mean_rate_per_ms * curve::peak();
        if max_rate <= 0.0 {
            continue;
        }
        let mut t = from_ms as f64;
        loop {
            t += rng.exp(1.0 / max_rate);
            if t >= to_ms as f64 {
                break;
            }
            let at = t as u64;
            if rng.f64() * curve::peak() < curve::demand(at, country.utc_offset_hours) {
                arrivals.push((at, country));
            }
        }
    }
    arrivals.sort_by_key(|(at, c)| (*at, c.code));
    arrivals
}

/// A session about to be drawn: when, the number's country, and a crowd's segment and address.
struct Arrival {
    at: u64,
    country: &'static numbers::Country,
    crowd: Option<(usize, Exit)>,
}

impl World<'_> {
    pub(super) fn spawn_users(&mut self, rng: &mut Rng) {
        let legit = self.mix.legit.clone();
        let start = self.mix.start_ms;
        let end = start + hours_ms(self.mix.hours);
        if !has_users(&legit) {
            return;
        }
        let segment_weights: Vec<f64> = legit.segments.iter().map(|s| s.weight).collect();
        let arrivals = arrivals(&legit, rng, start, end);
        // Crowds behind one address: their sessions are segments after the random ones.
        let mut crowd_sessions: Vec<(u64, &'static numbers::Country, usize, Exit)> = Vec::new();
        for (g, crowd) in legit.crowds.iter().enumerate() {
            let Some(country) = numbers::country(&crowd.country) else { continue };
            let mut crng = rng.fork(0xc0ffee + g as u64);
            let pool = Pool::new(
                &mut crng,
                crowd.addresses.max(1),
                Access::Office,
                std::slice::from_ref(&crowd.country),
            );
            let from = start + hours_ms(crowd.start_hours);
            for _ in 0..crowd.sessions {
                let at = from + crng.below(hours_ms(crowd.hours).max(1));
                if at >= end {
                    continue;
                }
                crowd_sessions.push((at, country, legit.segments.len() + g, pool.pick(&mut crng)));
            }
        }
        crowd_sessions.sort_by_key(|(at, c, g, _)| (*at, c.code, *g));
        let random = arrivals.into_iter().map(|(at, country)| Arrival { at, country, crowd: None });
        let crowds = crowd_sessions.into_iter().map(|(at, country, segment, ip)| Arrival {
            at,
            country,
            crowd: Some((segment, ip)),
        });
        for (i, arrival) in random.chain(crowds).enumerate() {
            self.spawn_user(&legit, &segment_weights, rng.fork(i as u64 + 1), arrival, false);
        }
    }

    /// The warm-up (`legit.warm_up_hours`): sessions of the random segments in the hours before
    /// the period, drawn as the period's are but from a stream of their own (`fork(6)` of the
    /// run's seed), so the period's sessions are drawn the same with or without it, and a run
    /// without it draws nothing more. Crowds are events of the period: none here.
    pub(super) fn spawn_warm_up(&mut self, rng: &mut Rng) {
        let legit = self.mix.legit.clone();
        let start = self.mix.start_ms;
        let from = start.saturating_sub(hours_ms(legit.warm_up_hours));
        if from >= start || !has_users(&legit) {
            return;
        }
        let segment_weights: Vec<f64> = legit.segments.iter().map(|s| s.weight).collect();
        for (i, (at, country)) in arrivals(&legit, rng, from, start).into_iter().enumerate() {
            let arrival = Arrival { at, country, crowd: None };
            self.spawn_user(&legit, &segment_weights, rng.fork(i as u64 + 1), arrival, true);
        }
    }

    /// One real user's session, drawn from its own stream `urng`, woken at its arrival.
    fn spawn_user(
        &mut self,
        legit: &Legit,
        segment_weights: &[f64],
        mut urng: Rng,
        arrival: Arrival,
        warm_up: bool,
    ) {
        let Arrival { at, country, crowd } = arrival;
        let segment = match &crowd {
            Some((segment, _)) => *segment,
            None => urng.weighted(segment_weights),
        };
        let Some(seg) = legit.segment(segment) else { return };
        let Some(number) = self.numbers.draw(&mut urng, country, Wanted::Mobile) else { return };
        let kind = if urng.chance(legit.app_share) {
            if urng.chance(0.55) {
                ClientKind::IosApp
            } else {
                ClientKind::AndroidApp
            }
        } else {
            let weights: Vec<f64> = ClientKind::BROWSERS.iter().map(|(_, w)| *w).collect();
            ClientKind::BROWSERS[urng.weighted(&weights)].0
        };
        let identity = Identity::new(&mut urng, kind, country.code, seg.returning, at / 1000);
        let access = if kind.is_mobile() {
            if urng.chance(legit.cellular_share) {
                Access::Cellular
            } else {
                Access::Residential
            }
        } else if urng.chance(legit.office_share) {
            Access::Office
        } else {
            Access::Residential
        };
        let ip = match crowd {
            Some((_, ip)) => ip,
            None => {
                // Travellers on foreign Wi-Fi and expatriates keeping their home number connect
                // from another country than their number's.
                let abroad = urng.chance(legit.abroad_share);
                let from = if abroad { network::abroad(&mut urng, country.code) } else { country.code };
                let tor = legit.tor_share > 0.0 && urng.chance(legit.tor_share);
                let exit = Exit::new(&mut urng, if tor { Access::Tor } else { access }, from);
                match legit.cellular_v6_networks {
                    Some(n) if access == Access::Cellular => {
                        Exit { ip: network::within_carrier_v6_networks(exit.ip, n), ..exit }
                    }
                    _ => exit,
                }
            }
        };
        let will_confirm = !urng.chance(seg.never_confirm);
        let patience_ms = (urng.lognormal(legit.patience_median_s, 0.8) * 1000.0) as u64;
        let mut user = User {
            segment,
            number,
            identity,
            ip,
            phase: Phase::Send,
            token: None,
            will_confirm,
            resends_left: 2,
            retries_left: 3,
            patience_ms,
            block_retry_left: urng.chance(0.25),
            outcome: UserOutcome {
                segment,
                country: country.code,
                first_attempt_ms: at,
                ..UserOutcome::default()
            },
            warm_up,
            rng: urng,
        };
        let id = self.actors.len();
        // Drawn last, so the history leaves every other draw of the session as it was.
        let history_days = legit.history_days.max(0.0);
        let seen_before = seg.returning
            && segment < legit.segments.len()
            && history_days > 0.0
            && user.rng.chance(legit.history_share);
        if let Some(model) = &self.mix.trust_import {
            if seg.returning && segment < legit.segments.len() && model.knows(self.known_seed, &user.number) {
                self.known.push(user.number.clone());
            }
        }
        if seen_before {
            let back_ms = jitter_ms(&mut user.rng, 7_200.0, history_days * 86_400.0);
            self.schedule(at.saturating_sub(back_ms), Wake::History { user: id, confirm: false });
        }
        self.actors.push(Some(Actor::User(Box::new(user))));
        self.schedule(at, Wake::Actor(id));
    }

    /// A real user's request: its earlier sign-in (`history`) and every request of a warm-up
    /// session are history, and the lookups the guard makes for the warm-up are kept apart.
    fn send_user(
        &mut self,
        user: &User,
        record: TrafficRecord,
        kind: Kind,
        history: bool,
    ) -> Result<Observed, String> {
        let truth =
            if history || user.warm_up { Truth::History(user.segment) } else { Truth::Legit(user.segment) };
        let lookups_before = self.lookups();
        let verdict = self.send(record, truth, kind, &user.number, user.identity.label())?;
        if user.warm_up {
            self.warm_up_lookups += self.lookups() - lookups_before;
        }
        Ok(verdict)
    }

    pub(super) fn wake_user(&mut self, id: usize, user: &mut User, now: u64) -> Result<(), String> {
        let page = self.mix.legit.segment(user.segment).map(|s| s.page.clone()).unwrap_or_default();
        match user.phase {
            Phase::Done => Ok(()),
            Phase::Confirm { wrong_code } => {
                let code = format!("{:06}", user.rng.below(1_000_000));
                let body = format!("{{\"phone\":\"{}\",\"code\":\"{code}\"}}", user.number);
                let status = if wrong_code { 400 } else { 200 };
                let path = self.mix.confirm_path.clone();
                let record = self.record(
                    &mut user.rng,
                    &user.identity,
                    &user.ip,
                    now,
                    &path,
                    &page,
                    body,
                    None,
                    Some(status),
                );
                let verdict = self.send_user(user, record, Kind::Confirm, false)?;
                if act(&verdict) == Action::Allow && !wrong_code {
                    user.outcome.confirmed = true;
                    user.phase = Phase::Done;
                } else if wrong_code {
                    user.phase = Phase::Confirm { wrong_code: false };
                    let at = now + jitter_ms(&mut user.rng, 5.0, 20.0);
                    self.schedule(at, Wake::Actor(id));
                } else {
                    user.phase = Phase::Done;
                }
                Ok(())
            }
            Phase::Send => {
                let body = format!("{{\"phone\":\"{}\",\"channel\":\"sms\"}}", user.number);
                let token = user.token.take();
                let path = self.mix.send_path.clone();
                let record = self.record(
                    &mut user.rng,
                    &user.identity,
                    &user.ip,
                    now,
                    &path,
                    &page,
                    body,
                    token.as_deref(),
                    None,
                );
                let verdict = self.send_user(user, record, Kind::Send, false)?;
                let legit = &self.mix.legit;
                let next: Option<u64> = match act(&verdict) {
                    Action::Allow => {
                        user.outcome.first_sms_ms.get_or_insert(now);
                        let slow = user.resends_left > 0 && user.rng.chance(legit.resend_share);
                        if slow {
                            // The code is slow to come: ask again after a while.
                            user.resends_left -= 1;
                            Some(now + (user.rng.lognormal(45.0, 0.4) * 1000.0) as u64)
                        } else if user.will_confirm {
                            user.phase = Phase::Confirm { wrong_code: user.rng.chance(0.05) };
                            Some(now + (user.rng.lognormal(25.0, 0.5) * 1000.0) as u64)
                        } else {
                            user.phase = Phase::Done;
                            None
                        }
                    }
                    Action::Challenge => {
                        user.outcome.challenged = true;
                        if token.is_none() && user.rng.chance(legit.solve_share) {
                            let device = self
                                .mix
                                .captcha_solver_ids
                                .map(|m| m.user_device(self.solver_seed, &user.number));
                            user.token = Some(solved_token(device.as_deref(), &user.rng.token(40)));
                            Some(now + (user.rng.lognormal(12.0, 0.5) * 1000.0) as u64)
                        } else {
                            None
                        }
                    }
                    Action::Throttle => {
                        user.outcome.throttled = true;
                        let wait = verdict.retry_after.unwrap_or(60) * 1000;
                        if user.retries_left > 0 && wait <= user.patience_ms {
                            user.retries_left -= 1;
                            Some(now + wait + jitter_ms(&mut user.rng, 1.0, 20.0))
                        } else {
                            None
                        }
                    }
                    // A send route never answers as an import does; read it as a refusal.
                    Action::Block | Action::Answer => {
                        user.outcome.blocked = true;
                        if user.block_retry_left {
                            user.block_retry_left = false;
                            Some(now + jitter_ms(&mut user.rng, 60.0, 300.0))
                        } else {
                            None
                        }
                    }
                };
                match next {
                    Some(at) => self.schedule(at, Wake::Actor(id)),
                    None => user.phase = Phase::Done,
                }
                Ok(())
            }
        }
    }

    /// A returning user's earlier sign-in: the send from home, then (if it went through) the
    /// code entered half a minute later. Refused history is simply not retried.
    pub(super) fn history(&mut self, id: usize, confirm: bool, now: u64) -> Result<(), String> {
        let Some(Some(Actor::User(mut user))) = self.actors.get_mut(id).map(Option::take) else {
            return Ok(());
        };
        let result = self.history_step(id, &mut user, confirm, now);
        self.actors[id] = Some(Actor::User(user));
        result
    }

    fn history_step(&mut self, id: usize, user: &mut User, confirm: bool, now: u64) -> Result<(), String> {
        let page = self.mix.legit.segment(user.segment).map(|s| s.page.clone()).unwrap_or_default();
        let home = user.outcome.country;
        let ip = if user.ip.country == home {
            user.ip.clone()
        } else {
            Exit::new(&mut user.rng, Access::Residential, home)
        };
        let number = user.number.clone();
        let (path, body, status, kind) = if confirm {
            let code = format!("{:06}", user.rng.below(1_000_000));
            let body = format!("{{\"phone\":\"{number}\",\"code\":\"{code}\"}}");
            (self.mix.confirm_path.clone(), body, Some(200), Kind::Confirm)
        } else {
            (
                self.mix.send_path.clone(),
                format!("{{\"phone\":\"{number}\",\"channel\":\"sms\"}}"),
                None,
                Kind::Send,
            )
        };
        let record = self.record(&mut user.rng, &user.identity, &ip, now, &path, &page, body, None, status);
        let verdict = self.send_user(user, record, kind, true)?;
        if !confirm && act(&verdict) == Action::Allow {
            let at = now + (user.rng.lognormal(25.0, 0.5) * 1000.0) as u64;
            self.schedule(at, Wake::History { user: id, confirm: true });
        }
        Ok(())
    }
}
