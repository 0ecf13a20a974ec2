//! The pumping campaigns: their lanes of numbers, each send and how they react, solve and adapt.

use pumpguard_core::scenario::Observed;
use pumpguard_core::Action;

use crate::clients::{ClientKind, Identity};
use crate::curve;
use crate::mix::{Campaign, CampaignClient, NumberPlan, TokenPlan};
use crate::network::{Access, Exit, Pool};
use crate::numbers::{self, Wanted};
use crate::rng::{stable_hash, Rng};
use crate::solver_ids::solved_token;

use super::{act, hours_ms, jitter_ms, Actor, Kind, Truth, Wake, World};

struct Lane {
    name: String,
    retired: bool,
    consecutive_refusals: u32,
    /// Sequential plans: the last number sent.
    cursor: Option<String>,
}

pub(super) struct Bot {
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
    /// Numbers whose code it entered and origin accepted: lane, number, when it last sent to it.
    entered: Vec<(usize, String, u64)>,
}

/// A challenged campaign send, to be sent again with a solved token.
pub(super) struct SolvedRetry {
    lane: usize,
    number: String,
    ip: Exit,
    identity: Identity,
    /// Index of the challenged request in the run's log.
    first: usize,
}

impl World<'_> {
    pub(super) fn spawn_bots(&mut self, root: &Rng) {
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
                entered: Vec::new(),
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

    fn next_number(&self, bot: &mut Bot, now: u64) -> Option<(usize, String)> {
        let campaign = self.mix.campaigns.get(bot.index)?;
        if campaign.revisits_entered_share > 0.0 && bot.rng.chance(campaign.revisits_entered_share) {
            // The one waited on longest, once an hour has passed: no backoff or per-number
            // limit has anything to say to a number sent to hourly.
            let lanes = &bot.lanes;
            let due = bot
                .entered
                .iter_mut()
                .filter(|(lane, _, last)| {
                    now.saturating_sub(*last) >= 3_600_000 && lanes.get(*lane).is_some_and(|l| !l.retired)
                })
                .min_by_key(|(_, _, last)| *last);
            if let Some((lane, number, last)) = due {
                *last = now;
                return Some((*lane, number.clone()));
            }
        }
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

    pub(super) fn wake_bot(&mut self, id: usize, bot: &mut Bot, now: u64) -> Result<(), String> {
        let Some(campaign) = self.mix.campaigns.get(bot.index).cloned() else { return Ok(()) };
        if now >= bot.end_ms {
            return Ok(());
        }
        let Some((lane, number)) = self.next_number(bot, now) else { return Ok(()) };
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
                if campaign.enters_codes_share > 0.0 && bot.rng.chance(campaign.enters_codes_share) {
                    // Read off the operator's own line, then typed in as a user would.
                    let at = now + (bot.rng.lognormal(25.0, 0.5) * 1000.0) as u64;
                    self.schedule(at, Wake::BotConfirm { bot: id, lane, number, ip, known: true });
                } else if bot.rng.chance(campaign.fake_confirm_share) {
                    let at = now + jitter_ms(&mut bot.rng, 15.0, 60.0);
                    self.schedule(at, Wake::BotConfirm { bot: id, lane, number, ip, known: false });
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
    pub(super) fn solved(&mut self, bot_id: usize, retry: SolvedRetry, now: u64) -> Result<(), String> {
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

    pub(super) fn bot_confirm(
        &mut self,
        bot_id: usize,
        (lane, number): (usize, String),
        ip: Exit,
        known: bool,
        now: u64,
    ) -> Result<(), String> {
        let Some(mut taken) = self.actors.get_mut(bot_id).and_then(Option::take) else { return Ok(()) };
        let result = if let Actor::Bot(bot) = &mut taken {
            let body = format!("{{\"phone\":\"{number}\",\"code\":\"{:06}\"}}", bot.rng.below(1_000_000));
            let path = self.mix.confirm_path.clone();
            let status = if known { 200 } else { 400 };
            let record = self.record(
                &mut bot.rng,
                &bot.identity,
                &ip,
                now,
                &path,
                "/signup",
                body,
                None,
                Some(status),
            );
            let verdict =
                self.send(record, Truth::Campaign(bot.index), Kind::Confirm, &number, bot.identity.label())?;
            if known && act(&verdict) == Action::Allow && !bot.entered.iter().any(|(_, n, _)| *n == number) {
                bot.entered.push((lane, number, now));
            }
            Ok(())
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

/// One answer a campaign reacts to.
struct Answer<'a> {
    lane: usize,
    number: String,
    ip: Exit,
    verdict: &'a Observed,
    now: u64,
}
