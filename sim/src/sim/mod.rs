//! The closed loop: every user and every campaign is an actor woken at its own simulated time;
//! each wake sends at most one request to the [`Guard`] and reacts to the answer (a challenged
//! user solves the CAPTCHA and comes back, a throttled one waits `Retry-After` if patient
//! enough, an adaptive campaign backs off, rotates and spreads). Events are ordered by time,
//! then by creation, so a seed gives one run.

mod bots;
mod imports;
mod users;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;

use pumpguard_core::scenario::Observed;
use pumpguard_core::traffic::{EdgeRecord, TlsRecord, TrafficRecord};
use pumpguard_core::Action;

use crate::clients::{Identity, Outgoing};
use crate::guard::Guard;
use crate::intel::Provider;
use crate::mix::{Mix, NumberPlan};
use crate::network::Exit;
use crate::numbers::{self, NumberSource};
use crate::rng::Rng;
use bots::{Bot, SolvedRetry};
use users::User;

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

enum Actor {
    User(Box<User>),
    Bot(Box<Bot>),
}

enum Wake {
    Actor(usize),
    /// A campaign's confirmation of a number it just had sent: a made-up code, or the code it
    /// received (`known`).
    BotConfirm {
        bot: usize,
        lane: usize,
        number: String,
        ip: Exit,
        known: bool,
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
            Wake::BotConfirm { bot, lane, number, ip, known } => {
                world.bot_confirm(bot, (lane, number), ip, known, at)?
            }
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

impl World<'_> {
    fn schedule(&mut self, at: u64, wake: Wake) {
        let id = self.wakes.len();
        self.wakes.push(Some(wake));
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, id)));
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

    /// Lookups made at the modelled provider so far.
    fn lookups(&self) -> u64 {
        self.provider.as_ref().map_or(0, |p| p.calls)
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

/// The answer's action; an answer that names none counts as a refusal.
fn act(verdict: &Observed) -> Action {
    verdict.action.unwrap_or(Action::Block)
}
