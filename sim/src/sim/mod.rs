//! The closed loop: every user and every campaign is an actor woken at its own simulated time;
//! each wake sends at most one request to the [`Guard`] and reacts to the answer (a challenged
//! user solves the CAPTCHA and comes back, a throttled one waits `Retry-After` if patient
//! enough, an adaptive campaign backs off, rotates and spreads). Events are ordered by time,
//! then by creation, so a seed gives one run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;

use pumpguard_core::scenario::Observed;
use pumpguard_core::traffic::{EdgeRecord, TlsRecord, TrafficRecord};
use pumpguard_core::Action;

use crate::clients::{ClientKind, Identity, Outgoing};
use crate::curve;
use crate::guard::Guard;
use crate::intel::Provider;
use crate::mix::{Campaign, CampaignClient, Legit, Mix, NumberPlan, TokenPlan};
use crate::network::{self, Access, Exit, Pool};
use crate::numbers::{self, NumberSource, Wanted};
use crate::rng::{stable_hash, Rng};
use crate::solver_ids::solved_token;

/// Who really sent a request: kept beside the traffic, never shown to the guard.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Truth {
    /// A real user of a segment (index into `mix.legit.segment_names()`).
    Legit(usize),
    /// A campaign (index into `mix.campaigns`).
    Campaign(usize),
    /// Unknown: recorded traffic replayed without labels.
    Unlabelled,
    /// A real user of a segment who only feeds the guard's memory, never scored: a returning
    /// user signing in before the period (`legit.history_share`), or a session of the warm-up
    /// before it (`legit.warm_up_hours`), each of its requests, those past the period's start
    /// included. It gives the guard the memory a live site has.
    History(usize),
}

/// Whether a request asks for an SMS or confirms a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Asks for an SMS.
    Send,
    /// Confirms a code.
    Confirm,
}

/// One request sent and its answer.
#[derive(Clone, Debug)]
pub struct Sent {
    /// When.
    pub at_ms: u64,
    /// Who really sent it.
    pub truth: Truth,
    /// Send or confirm.
    pub kind: Kind,
    /// The number, E.164.
    pub number: String,
    /// Its region, per the core's tables.
    pub country: Option<&'static str>,
    /// Client family.
    pub client: &'static str,
    /// JA4 sent, if any.
    pub ja4: Option<String>,
    /// Client address.
    pub ip: IpAddr,
    /// The guard's answer.
    pub verdict: Observed,
    /// The same attempt sent again (with a solved CAPTCHA): index of the attempt's first request.
    pub retry_of: Option<usize>,
}

/// What happened to one legitimate session.
#[derive(Clone, Debug, Default)]
pub struct UserOutcome {
    /// Segment index.
    pub segment: usize,
    /// Country of the number.
    pub country: &'static str,
    /// First request.
    pub first_attempt_ms: u64,
    /// First request that reached origin, if any.
    pub first_sms_ms: Option<u64>,
    /// Was challenged at least once.
    pub challenged: bool,
    /// Was throttled at least once.
    pub throttled: bool,
    /// Was blocked at least once.
    pub blocked: bool,
    /// Confirmed a code.
    pub confirmed: bool,
}

/// A finished run.
pub struct Run {
    /// The mix it ran.
    pub mix: Mix,
    /// Seed.
    pub seed: u64,
    /// Every request, in the order sent, with its answer.
    pub sent: Vec<Sent>,
    /// The records as sent (same order as `sent`).
    pub records: Vec<TrafficRecord>,
    /// One per legitimate session of the period (the warm-up's are not scored).
    pub users: Vec<UserOutcome>,
    /// Lookups the guard made at the modelled number-intelligence provider (each one billed),
    /// those for the warm-up's sessions left out.
    pub number_lookups: u64,
}

enum Phase {
    Send,
    Confirm { wrong_code: bool },
    Done,
}

struct User {
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
    outcome: UserOutcome,
    /// A session of the warm-up before the period: its requests are history, never scored.
    warm_up: bool,
}

struct Lane {
    name: String,
    retired: bool,
    consecutive_refusals: u32,
    /// Sequential plans: the last number sent.
    cursor: Option<String>,
}

struct Bot {
    rng: Rng,
    index: usize,
    end_ms: u64,
    pool: Pool,
    moved_to_proxies: bool,
    exits_in_number_countries: bool,
    identity: Identity,
    lanes: Vec<Lane>,
    rate_factor: f64,
    replayed_token: String,
    /// CAPTCHAs its solving service has solved so far.
    solves: u64,
}

enum Actor {
    User(Box<User>),
    Bot(Box<Bot>),
}

enum Wake {
    Actor(usize),
    /// A campaign's made-up confirmation of a number it just had sent.
    FakeConfirm {
        bot: usize,
        number: String,
        ip: Exit,
    },
    /// The site imports numbers its records hold as verified (`mix.trust_import`).
    Import(Vec<String>),
    /// A returning user's earlier sign-in, before the period: a send, then its code entered.
    History {
        user: usize,
        confirm: bool,
    },
    /// A campaign back from its CAPTCHA-solving service with a token for a challenged send.
    Solved {
        bot: usize,
        retry: Box<SolvedRetry>,
    },
}

/// A challenged campaign send, to be sent again with a solved token.
struct SolvedRetry {
    lane: usize,
    number: String,
    ip: Exit,
    identity: Identity,
    /// Index of the challenged request in the run's log.
    first: usize,
}

struct World<'g> {
    mix: Mix,
    numbers: NumberSource,
    guard: &'g mut dyn Guard,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    wakes: Vec<Option<Wake>>,
    /// `None` only while the actor is being woken.
    actors: Vec<Option<Actor>>,
    sent: Vec<Sent>,
    records: Vec<TrafficRecord>,
    seq: u64,
    /// The number-intelligence provider, outside the guard (`mix.number_intel`).
    provider: Option<Provider>,
    /// Seed of the edge's bot scores (`mix.edge_bot_score`), a stream of its own.
    bot_score_seed: u64,
    /// Seed of the solving devices siteverify names (`mix.captcha_solver_ids`).
    solver_seed: u64,
    /// Of the provider's lookups, those made for warm-up sessions: not the period's bill.
    warm_up_lookups: u64,
    /// Seed of which returning users' numbers the site's records hold (`mix.trust_import`).
    known_seed: u64,
    /// Those numbers, imported before the period.
    known: Vec<String>,
}

/// Runs `mix` against `guard`, deterministically for `seed`.
pub fn run(mix: &Mix, seed: u64, guard: &mut dyn Guard) -> Result<Run, String> {
    validate(mix)?;
    let root = Rng::new(seed);
    let mut world = World {
        mix: mix.clone(),
        numbers: NumberSource::default(),
        guard,
        queue: BinaryHeap::new(),
        wakes: Vec::new(),
        actors: Vec::new(),
        sent: Vec::new(),
        records: Vec::new(),
        seq: 0,
        // Its own stream: drawing nothing from the others, it leaves a run without it unchanged.
        provider: mix.number_intel.map(|model| Provider::new(model, root.fork(3).next_u64())),
        bot_score_seed: root.fork(4).next_u64(),
        solver_seed: root.fork(5).next_u64(),
        warm_up_lookups: 0,
        known_seed: root.fork(7).next_u64(),
        known: Vec::new(),
    };
    world.spawn_users(&mut root.fork(1));
    world.spawn_warm_up(&mut root.fork(6));
    world.spawn_bots(&root.fork(2));
    world.schedule_imports();
    let end_ms = mix.start_ms + hours_ms(mix.hours);
    while let Some(Reverse((at, _, wake_id))) = world.queue.pop() {
        // Late retries and confirmations past the end still happen: the period bounds arrivals.
        if at > end_ms + 3_600_000 {
            break;
        }
        let Some(wake) = world.wakes.get_mut(wake_id).and_then(Option::take) else { continue };
        match wake {
            Wake::Actor(actor) => world.wake(actor, at)?,
            Wake::FakeConfirm { bot, number, ip } => world.fake_confirm(bot, number, ip, at)?,
            Wake::Solved { bot, retry } => world.solved(bot, *retry, at)?,
            Wake::History { user, confirm } => world.history(user, confirm, at)?,
            Wake::Import(numbers) => world.import(&numbers, at)?,
        }
    }
    let users = world
        .actors
        .iter()
        .filter_map(|a| match a {
            Some(Actor::User(u)) if !u.warm_up => Some(u.outcome.clone()),
            _ => None,
        })
        .collect();
    let number_lookups = world.lookups() - world.warm_up_lookups;
    Ok(Run { mix: world.mix, seed, sent: world.sent, records: world.records, users, number_lookups })
}

fn hours_ms(hours: f64) -> u64 {
    (hours.max(0.0) * 3_600_000.0) as u64
}

fn validate(mix: &Mix) -> Result<(), String> {
    if !(mix.hours > 0.0 && mix.hours <= 24.0 * 14.0) {
        return Err(format!("hours: {} is not within (0, 336]", mix.hours));
    }
    // Bounded like the period: every request stays in memory, and a week of warm-up already
    // holds ~28 times the users of the default 6 hours.
    if !(0.0..=24.0 * 14.0).contains(&mix.legit.warm_up_hours) {
        return Err(format!("legit.warm_up_hours: {} is not within [0, 336]", mix.legit.warm_up_hours));
    }
    for (i, c) in mix.legit.countries.iter().enumerate() {
        if numbers::country(&c.name).is_none() {
            return Err(format!("legit.countries[{i}]: unknown country {:?}", c.name));
        }
    }
    for (i, c) in mix.campaigns.iter().enumerate() {
        let countries: Vec<&String> = match &c.numbers {
            NumberPlan::Mobile { countries }
            | NumberPlan::Premium { countries }
            | NumberPlan::Sequential { countries } => countries.iter().collect(),
            NumberPlan::Prefixes { country, .. } => vec![country],
        };
        if countries.is_empty() {
            return Err(format!("campaigns[{i}].numbers: no country"));
        }
        if let Some(bad) = countries.iter().find(|c| numbers::country(c).is_none()) {
            return Err(format!("campaigns[{i}].numbers: unknown country {bad:?}"));
        }
        if c.rate_per_hour <= 0.0 || c.hours <= 0.0 {
            return Err(format!("campaigns[{i}]: rate_per_hour and hours must be positive"));
        }
    }
    if let Some(model) = &mix.trust_import {
        check_shares("trust_import", &[("share", model.share)])?;
        if model.batch == 0
            || !model.path.starts_with('/')
            || !(0.0..=24.0 * 365.0).contains(&model.hours_before)
        {
            return Err(
                "trust_import: batch at least 1, path starting with '/', hours_before within [0, 8760]"
                    .into(),
            );
        }
    }
    if let Some(model) = &mix.captcha_solver_ids {
        check_shares("captcha_solver_ids", &[("shared_share", model.shared_share)])?;
        if model.shared_ids == 0 {
            return Err("captcha_solver_ids.shared_ids: at least one id".into());
        }
    }
    if mix.captcha_solver_ids.is_none() {
        if let Some(i) = mix.campaigns.iter().position(|c| c.solves_on_shared_ids) {
            return Err(format!(
                "campaigns[{i}].solves_on_shared_ids: needs mix.captcha_solver_ids (the ids it would share)"
            ));
        }
    }
    if let Some(i) = mix.campaigns.iter().position(|c| c.solver_devices == Some(0)) {
        return Err(format!(
            "campaigns[{i}].solver_devices: at least one device (null: a fresh one per solve)"
        ));
    }
    if let Some(model) = &mix.edge_bot_score {
        check_shares(
            "edge_bot_score",
            &[("bots_scored_low", model.bots_scored_low), ("humans_scored_low", model.humans_scored_low)],
        )?;
    }
    if let Some(model) = &mix.number_intel {
        check_shares("number_intel", &model.shares())?;
        if !(model.price_per_lookup.is_finite() && model.price_per_lookup >= 0.0) {
            return Err(format!("number_intel.price_per_lookup: {} is not a price", model.price_per_lookup));
        }
        if model.detects + model.suspects > 1.0 || model.false_flags + model.false_suspects > 1.0 {
            return Err("number_intel: a class's high and elevated shares add up to more than 1".into());
        }
    }
    Ok(())
}

/// Each of a model's named shares lies from 0 to 1.
fn check_shares(model: &str, shares: &[(&str, f64)]) -> Result<(), String> {
    match shares.iter().find(|(_, share)| !(0.0..=1.0).contains(share)) {
        Some((name, share)) => Err(format!("{model}.{name}: {share} is not a share from 0 to 1")),
        None => Ok(()),
    }
}

fn jitter_ms(rng: &mut Rng, lo_s: f64, hi_s: f64) -> u64 {
    ((lo_s + rng.f64() * (hi_s - lo_s)) * 1000.0) as u64
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
    fn schedule(&mut self, at: u64, wake: Wake) {
        let id = self.wakes.len();
        self.wakes.push(Some(wake));
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, id)));
    }

    fn spawn_users(&mut self, rng: &mut Rng) {
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
    fn spawn_warm_up(&mut self, rng: &mut Rng) {
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

    fn spawn_bots(&mut self, root: &Rng) {
        for (index, c) in self.mix.campaigns.clone().iter().enumerate() {
            // Forked by name: adding or reordering campaigns leaves the others' draws alone.
            let mut rng = root.fork(stable_hash(&c.name));
            let start = self.mix.start_ms + hours_ms(c.start_hours);
            let end_ms = start + hours_ms(c.hours);
            let pool = Pool::new(&mut rng, c.addresses.size, c.addresses.access, &c.addresses.countries);
            let identity = new_identity(&mut rng, c, start);
            let lanes = self.lanes(&mut rng, c);
            let replayed_token = format!("pass-{}", rng.token(40));
            let bot = Bot {
                rng,
                index,
                end_ms,
                pool,
                moved_to_proxies: false,
                exits_in_number_countries: false,
                identity,
                lanes,
                rate_factor: 1.0,
                replayed_token,
                solves: 0,
            };
            let id = self.actors.len();
            self.actors.push(Some(Actor::Bot(Box::new(bot))));
            self.schedule(start, Wake::Actor(id));
        }
    }

    fn lanes(&self, rng: &mut Rng, c: &Campaign) -> Vec<Lane> {
        let lane = |name: String| Lane { name, retired: false, consecutive_refusals: 0, cursor: None };
        match &c.numbers {
            NumberPlan::Mobile { countries }
            | NumberPlan::Premium { countries }
            | NumberPlan::Sequential { countries } => countries.iter().map(|c| lane(c.clone())).collect(),
            NumberPlan::Prefixes { country, count, digits } => {
                let Some(country) = numbers::country(country) else { return Vec::new() };
                (0..(*count).max(1))
                    .filter_map(|_| self.numbers.draw(rng, country, Wanted::Mobile))
                    .map(|n| lane(n.chars().take(digits + 1).collect()))
                    .collect()
            }
        }
    }

    fn wake(&mut self, actor: usize, now: u64) -> Result<(), String> {
        let Some(mut taken) = self.actors.get_mut(actor).and_then(Option::take) else { return Ok(()) };
        let result = match &mut taken {
            Actor::User(user) => self.wake_user(actor, user, now),
            Actor::Bot(bot) => self.wake_bot(actor, bot, now),
        };
        self.actors[actor] = Some(taken);
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        rng: &mut Rng,
        identity: &Identity,
        ip: &Exit,
        at_ms: u64,
        path: &str,
        page: &str,
        body: String,
        token: Option<&str>,
        response_status: Option<u16>,
    ) -> TrafficRecord {
        let out = Outgoing {
            host: &self.mix.host,
            page,
            body: &body,
            token: token.map(|t| (self.mix.token_header.as_str(), t)),
        };
        let mut headers = identity.headers(&out);
        if let Some(name) = &self.mix.edge_country_header {
            // Added by the edge in front of the site, after the client's own headers.
            headers.push((name.clone(), ip.country.clone()));
        }
        let tls = self.mix.tls_fingerprints.then(|| {
            let (ja3, ja4) = identity.tls(rng);
            TlsRecord { ja3: Some(ja3), ja4: Some(ja4) }
        });
        TrafficRecord {
            at_ms,
            client_ip: Some(ip.ip),
            method: "POST".to_owned(),
            host: self.mix.host.clone(),
            path: path.to_owned(),
            version: Some(identity.version().to_owned()),
            headers,
            body: Some(body),
            body_hex: None,
            tls,
            edge: None,
            response_status,
            response_headers: Vec::new(),
            response_body: None,
        }
    }

    fn send(
        &mut self,
        mut record: TrafficRecord,
        truth: Truth,
        kind: Kind,
        number: &str,
        client: &'static str,
    ) -> Result<Observed, String> {
        if let Some(model) = &self.mix.edge_bot_score {
            let automated = matches!(truth, Truth::Campaign(_));
            let bot_score = Some(model.score(self.bot_score_seed, &attempt(&record, number), automated));
            record.edge = Some(EdgeRecord { bot_score, verified_bot: Some(false) });
        }
        let verdict = match self.provider.as_mut() {
            Some(provider) => {
                if matches!(truth, Truth::Campaign(_)) {
                    provider.pumped(number);
                }
                self.guard.judge_with(&record, &mut |e164| Some(provider.answer(e164)))?
            }
            None => self.guard.judge(&record)?,
        };
        let country = self.numbers.classify(number).map(|(r, _)| r);
        self.sent.push(Sent {
            at_ms: record.at_ms,
            truth,
            kind,
            number: number.to_owned(),
            country,
            client,
            ja4: record.tls.as_ref().and_then(|t| t.ja4.clone()),
            ip: record.client_ip.unwrap_or(IpAddr::from([0, 0, 0, 0])),
            verdict: verdict.clone(),
            retry_of: None,
        });
        self.records.push(record);
        Ok(verdict)
    }

    /// Schedules the site's imports of the numbers its records hold, in batches, before the
    /// warm-up and the period.
    fn schedule_imports(&mut self) {
        let Some(model) = self.mix.trust_import.clone() else { return };
        let before = hours_ms(self.mix.legit.warm_up_hours) + hours_ms(model.hours_before);
        let at = self.mix.start_ms.saturating_sub(before);
        let known = std::mem::take(&mut self.known);
        for batch in known.chunks(model.batch.max(1)) {
            self.schedule(at, Wake::Import(batch.to_vec()));
        }
    }

    /// One import request; the guard must answer it itself (`answer`, 200), or the run stops:
    /// a policy without `trust_import`, or another token, would otherwise measure no import.
    fn import(&mut self, numbers: &[String], now: u64) -> Result<(), String> {
        let Some(model) = &self.mix.trust_import else { return Ok(()) };
        let record = TrafficRecord {
            at_ms: now,
            client_ip: Some(IpAddr::from([192, 0, 2, 10])),
            method: "POST".to_owned(),
            host: self.mix.host.clone(),
            path: model.path.clone(),
            version: Some("HTTP/1.1".to_owned()),
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("authorization".to_owned(), format!("Bearer {}", model.token)),
            ],
            body: Some(crate::known_numbers::ImportModel::body(numbers)),
            body_hex: None,
            tls: None,
            edge: None,
            response_status: None,
            response_headers: Vec::new(),
            response_body: None,
        };
        let got = self.guard.judge(&record)?;
        if got.action != Some(Action::Answer) || got.status != 200 {
            return Err(format!(
                "trust_import: the guard answered the import at {} with {} {:?} (error {:?}); \
                 the policy needs a trust_import section with this path and the token's SHA-256",
                model.path, got.status, got.action, got.error
            ));
        }
        Ok(())
    }

    /// Lookups made at the modelled provider so far.
    fn lookups(&self) -> u64 {
        self.provider.as_ref().map_or(0, |p| p.calls)
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

    fn wake_user(&mut self, id: usize, user: &mut User, now: u64) -> Result<(), String> {
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
    fn history(&mut self, id: usize, confirm: bool, now: u64) -> Result<(), String> {
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

    fn next_number(&self, bot: &mut Bot) -> Option<(usize, String)> {
        let campaign = self.mix.campaigns.get(bot.index)?;
        let live: Vec<usize> = (0..bot.lanes.len()).filter(|&i| !bot.lanes[i].retired).collect();
        let lane_index = *bot.rng.pick(&live)?;
        let lane = &mut bot.lanes[lane_index];
        let number = match &campaign.numbers {
            NumberPlan::Mobile { .. } => {
                self.numbers.draw(&mut bot.rng, numbers::country(&lane.name)?, Wanted::Mobile)
            }
            NumberPlan::Premium { .. } => {
                self.numbers.draw(&mut bot.rng, numbers::country(&lane.name)?, Wanted::Premium)
            }
            NumberPlan::Sequential { .. } => {
                let next = match &lane.cursor {
                    Some(last) => self.numbers.next_after(last, Wanted::Mobile),
                    None => None,
                };
                match next {
                    Some(n) => Some(n),
                    None => self.numbers.draw(&mut bot.rng, numbers::country(&lane.name)?, Wanted::Mobile),
                }
            }
            NumberPlan::Prefixes { country, .. } => {
                let country = numbers::country(country)?;
                let total =
                    country.lengths.first().copied().unwrap_or(10) + country.calling_code.to_string().len();
                self.numbers.draw_with_prefix(&mut bot.rng, &lane.name, total, Wanted::Mobile)
            }
        }?;
        lane.cursor = Some(number.clone());
        Some((lane_index, number))
    }

    fn wake_bot(&mut self, id: usize, bot: &mut Bot, now: u64) -> Result<(), String> {
        let Some(campaign) = self.mix.campaigns.get(bot.index).cloned() else { return Ok(()) };
        if now >= bot.end_ms {
            return Ok(());
        }
        let Some((lane, number)) = self.next_number(bot) else { return Ok(()) };
        if matches!(campaign.client, CampaignClient::Rotating) {
            bot.identity = Identity::rotating(&mut bot.rng, now / 1000);
        } else if matches!(campaign.client, CampaignClient::Browsers) && bot.rng.chance(0.3) {
            bot.identity = new_identity(&mut bot.rng, &campaign, now);
        }
        let local = campaign.local_exits.then(|| self.numbers.classify(&number)).flatten();
        let ip = match local {
            Some((country, _)) => bot.pool.pick_in(&mut bot.rng, country),
            None => bot.pool.pick(&mut bot.rng),
        };
        let token = match campaign.tokens {
            TokenPlan::Replayed => Some(bot.replayed_token.clone()),
            TokenPlan::None | TokenPlan::Solved => None,
        };
        let body = format!("{{\"phone\":\"{number}\",\"channel\":\"sms\"}}");
        let path = self.mix.send_path.clone();
        let record = self.record(
            &mut bot.rng,
            &bot.identity,
            &ip,
            now,
            &path,
            "/signup",
            body,
            token.as_deref(),
            None,
        );
        let verdict =
            self.send(record, Truth::Campaign(bot.index), Kind::Send, &number, bot.identity.label())?;
        let pause_ms = if act(&verdict) == Action::Challenge && campaign.tokens == TokenPlan::Solved {
            // A solving service answers in tens of seconds; the bot then sends again with the
            // token, while its other sends go on.
            let at = now + jitter_ms(&mut bot.rng, 10.0, 40.0);
            let first = self.sent.len().saturating_sub(1);
            let retry = SolvedRetry { lane, number, ip, identity: bot.identity.clone(), first };
            self.schedule(at, Wake::Solved { bot: id, retry: Box::new(retry) });
            0
        } else {
            let answer = Answer { lane, number, ip, verdict: &verdict, now };
            self.react(id, bot, &campaign, answer)
        };
        let curve = if campaign.follow_curve { self.legit_demand(now) } else { 1.0 };
        let rate_per_ms = campaign.rate_per_hour * bot.rate_factor * curve / 3_600_000.0;
        let gap = if rate_per_ms > 0.0 { bot.rng.exp(1.0 / rate_per_ms) as u64 } else { 3_600_000 };
        self.schedule(now + pause_ms + gap.max(1), Wake::Actor(id));
        Ok(())
    }

    /// What a campaign does after an answer; returns how long it pauses before its next send.
    fn react(&mut self, id: usize, bot: &mut Bot, campaign: &Campaign, answer: Answer<'_>) -> u64 {
        let Answer { lane, number, ip, verdict, now } = answer;
        let mut pause_ms = 0;
        match act(verdict) {
            Action::Allow => {
                bot.rate_factor = (bot.rate_factor * 1.05).min(1.0);
                if let Some(l) = bot.lanes.get_mut(lane) {
                    l.consecutive_refusals = 0;
                }
                if bot.rng.chance(campaign.fake_confirm_share) {
                    let at = now + jitter_ms(&mut bot.rng, 15.0, 60.0);
                    self.schedule(at, Wake::FakeConfirm { bot: id, number, ip });
                }
            }
            action if campaign.adaptive => {
                if let Some(l) = bot.lanes.get_mut(lane) {
                    l.consecutive_refusals += 1;
                }
                match action {
                    Action::Throttle => {
                        let wait = verdict.retry_after.unwrap_or(60) * 1000;
                        pause_ms = wait.min(3_600_000) / 2 + jitter_ms(&mut bot.rng, 0.0, 30.0);
                        bot.rate_factor = (bot.rate_factor * 0.8).max(0.2);
                    }
                    _ => {
                        bot.rate_factor = (bot.rate_factor * 0.9).max(0.2);
                        pause_ms = jitter_ms(&mut bot.rng, 5.0, 60.0);
                    }
                }
                self.adapt(bot, campaign, lane, verdict, now);
            }
            _ => {}
        }
        pause_ms
    }

    /// A challenged send again, with a token from the solving service (verified once, like any).
    fn solved(&mut self, bot_id: usize, retry: SolvedRetry, now: u64) -> Result<(), String> {
        let SolvedRetry { lane, number, ip, identity, first } = retry;
        let Some(mut taken) = self.actors.get_mut(bot_id).and_then(Option::take) else { return Ok(()) };
        let result = match &mut taken {
            Actor::Bot(bot) => match self.mix.campaigns.get(bot.index).cloned() {
                Some(campaign) => {
                    let device = self.mix.captcha_solver_ids.map(|m| {
                        m.campaign_device(
                            self.solver_seed,
                            &campaign.name,
                            campaign.solver_devices,
                            campaign.solves_on_shared_ids,
                            bot.solves,
                        )
                    });
                    bot.solves += 1;
                    let token = solved_token(device.as_deref(), &bot.rng.token(40));
                    let body = format!("{{\"phone\":\"{number}\",\"channel\":\"sms\"}}");
                    let path = self.mix.send_path.clone();
                    let record = self.record(
                        &mut bot.rng,
                        &identity,
                        &ip,
                        now,
                        &path,
                        "/signup",
                        body,
                        Some(&token),
                        None,
                    );
                    self.send(record, Truth::Campaign(bot.index), Kind::Send, &number, identity.label()).map(
                        |verdict| {
                            if let Some(sent) = self.sent.last_mut() {
                                sent.retry_of = Some(first);
                            }
                            // The regular sends keep their own schedule; a refusal here slows them
                            // through the rate factor.
                            let answer = Answer { lane, number, ip, verdict: &verdict, now };
                            self.react(bot_id, bot, &campaign, answer);
                        },
                    )
                }
                None => Ok(()),
            },
            Actor::User(_) => Ok(()),
        };
        self.actors[bot_id] = Some(taken);
        result
    }

    /// An adaptive operator's reaction to a refusal: what real pumping operations do when a
    /// target pushes back.
    fn adapt(&self, bot: &mut Bot, campaign: &Campaign, lane: usize, verdict: &Observed, now: u64) {
        let error = verdict.error.as_deref().unwrap_or("");
        // Refused per address: move to (more) residential proxies.
        if matches!(error, "rate_limited" | "backoff")
            && !bot.moved_to_proxies
            && campaign.addresses.access == Access::Datacenter
        {
            bot.moved_to_proxies = true;
            let exits: Vec<String> =
                ["US", "GB", "DE", "FR", "BR", "IN"].iter().map(|s| (*s).to_owned()).collect();
            bot.pool = Pool::new(&mut bot.rng, 3000, Access::Residential, &exits);
        }
        // Refused for connecting from elsewhere than the numbers' countries: rent exits in
        // those countries (residential proxy services sell addresses by country).
        if error == "client_country_mismatch" && !bot.exits_in_number_countries {
            bot.exits_in_number_countries = true;
            let countries = campaign.numbers.countries();
            if !countries.is_empty() {
                bot.pool = Pool::new(&mut bot.rng, 3000, Access::Residential, &countries);
            }
        }
        // Refused by what the client looks like: look like a browser.
        if matches!(
            error,
            "fingerprint_denied"
                | "fingerprint_missing"
                | "client_header_missing"
                | "client_user_agent"
                | "captcha_required"
                | "captcha_invalid"
        ) || (matches!(campaign.client, CampaignClient::Fixed { .. }) && bot.rng.chance(0.2))
        {
            bot.identity = Identity::rotating(&mut bot.rng, now / 1000);
        }
        // Refused for the numbers: after a few in a row, drop that destination while others remain.
        let number_refusal = matches!(
            error,
            "country_not_allowed"
                | "country_denied"
                | "number_type_denied"
                | "number_type_not_allowed"
                | "pattern_denied"
                | "pattern_not_allowed"
                | "prefix_blocked"
                | "adjacent_numbers"
                | "low_conversion"
                | "number_intel"
        );
        let live = bot.lanes.iter().filter(|l| !l.retired).count();
        if let Some(l) = bot.lanes.get_mut(lane) {
            if number_refusal && l.consecutive_refusals >= 3 && live > 1 {
                l.retired = true;
            } else if error == "adjacent_numbers" {
                // Jump elsewhere in the range.
                l.cursor = None;
            }
        }
    }

    fn legit_demand(&self, now: u64) -> f64 {
        let total: f64 = self.mix.legit.countries.iter().map(|c| c.weight.max(0.0)).sum();
        if total <= 0.0 {
            return 1.0;
        }
        self.mix
            .legit
            .countries
            .iter()
            .filter_map(|c| {
                numbers::country(&c.name)
                    .map(|k| c.weight.max(0.0) / total * curve::demand(now, k.utc_offset_hours))
            })
            .sum()
    }

    fn fake_confirm(&mut self, bot_id: usize, number: String, ip: Exit, now: u64) -> Result<(), String> {
        let Some(mut taken) = self.actors.get_mut(bot_id).and_then(Option::take) else { return Ok(()) };
        let result = if let Actor::Bot(bot) = &mut taken {
            let body = format!("{{\"phone\":\"{number}\",\"code\":\"{:06}\"}}", bot.rng.below(1_000_000));
            let path = self.mix.confirm_path.clone();
            let record =
                self.record(&mut bot.rng, &bot.identity, &ip, now, &path, "/signup", body, None, Some(400));
            self.send(record, Truth::Campaign(bot.index), Kind::Confirm, &number, bot.identity.label())
                .map(|_| ())
        } else {
            Ok(())
        };
        self.actors[bot_id] = Some(taken);
        result
    }
}

fn new_identity(rng: &mut Rng, c: &Campaign, at_ms: u64) -> Identity {
    match &c.client {
        CampaignClient::Fixed { client } => Identity::new(
            rng,
            *client,
            c.addresses.countries.first().map(String::as_str).unwrap_or("US"),
            false,
            at_ms / 1000,
        ),
        CampaignClient::Browsers => {
            let weights: Vec<f64> = ClientKind::BROWSERS.iter().map(|(_, w)| *w).collect();
            let kind = ClientKind::BROWSERS[rng.weighted(&weights)].0;
            let country = rng.pick(&c.addresses.countries).map(String::as_str).unwrap_or("US");
            let returning = rng.chance(0.3);
            Identity::new(rng, kind, country, returning, at_ms / 1000)
        }
        CampaignClient::Rotating => Identity::rotating(rng, at_ms / 1000),
    }
}

/// What the edge scores a request by: the client (its address and user agent) asking for one
/// number. A client's resends and solved retries of that send carry the same score, as an edge
/// that judges the client would give them; and the key holds nothing of the run's order, so a
/// policy that changes real users' paths leaves every campaign's scores as they were.
fn attempt(record: &TrafficRecord, number: &str) -> String {
    let user_agent = record.headers.iter().find(|(name, _)| name == "user-agent").map(|(_, v)| v.as_str());
    format!("{:?} {number} {}", record.client_ip, user_agent.unwrap_or("-"))
}

/// One answer a campaign reacts to.
struct Answer<'a> {
    lane: usize,
    number: String,
    ip: Exit,
    verdict: &'a Observed,
    now: u64,
}

/// The answer's action; an answer that names none counts as a refusal.
fn act(verdict: &Observed) -> Action {
    verdict.action.unwrap_or(Action::Block)
}
