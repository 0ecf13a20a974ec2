//! The scoreboard: per campaign, how much pumped SMS reached origin and what it cost; per
//! legitimate segment, how many real users were refused, challenged or delayed. Computed from
//! the ground truth the guard never saw.

use std::collections::BTreeMap;

use pumpguard_core::Action;
use serde::Serialize;

use crate::prices::Prices;
use crate::sim::{Kind, Run, Truth};

/// Every figure of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Scoreboard {
    /// Seed of the run.
    pub seed: u64,
    /// Start of the period (ms since the epoch).
    pub start_ms: u64,
    /// Length of the period in hours.
    pub hours: f64,
    /// Currency of every cost.
    pub currency: String,
    /// All campaigns together.
    pub pumped: CampaignScore,
    /// One row per campaign.
    pub campaigns: Vec<CampaignScore>,
    /// All legitimate segments together.
    pub legit: SegmentScore,
    /// One row per legitimate segment.
    pub segments: Vec<SegmentScore>,
    /// Lookups made at the modelled number-intelligence provider (each one billed).
    pub number_lookups: u64,
    /// What they cost (`mix.number_intel.price_per_lookup`; 0 when no price is set).
    pub number_lookup_cost: f64,
}

/// What a campaign got.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CampaignScore {
    /// Campaign name (`all` for the total).
    pub name: String,
    /// SMS attempts (requests to the send route; a send again with a solved CAPTCHA is the
    /// same attempt).
    pub sends: u64,
    /// Of those, forwarded to origin: SMS sent, paid for.
    pub reached_origin: u64,
    /// Refused with 403 (or another block status).
    pub blocked: u64,
    /// Answered with a challenge.
    pub challenged: u64,
    /// Answered with 429.
    pub throttled: u64,
    /// `reached_origin / sends`.
    pub reached_share: f64,
    /// Price of the SMS that reached origin.
    pub cost_reached: f64,
    /// Price of the sends refused (what the refused requests would have cost).
    pub cost_refused: f64,
    /// The rule that refused most of its sends.
    pub top_rule: Option<String>,
}

/// What a legitimate segment got.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SegmentScore {
    /// Segment name (`all` for the total).
    pub name: String,
    /// Sessions (users who wanted a code).
    pub sessions: u64,
    /// SMS requests they sent, resends and retries included.
    pub sends: u64,
    /// Of those, refused (block, challenge or throttle).
    pub sends_refused: u64,
    /// Sessions that never got an SMS: refused and gave up.
    pub sessions_refused: u64,
    /// `sessions_refused / sessions`.
    pub refused_share: f64,
    /// Sessions challenged at least once.
    pub sessions_challenged: u64,
    /// Sessions throttled at least once.
    pub sessions_throttled: u64,
    /// Sessions that got their SMS after at least one refusal.
    pub sessions_delayed: u64,
    /// Median delay of delayed sessions, seconds.
    pub delay_p50_s: f64,
    /// 90th percentile delay of delayed sessions, seconds.
    pub delay_p90_s: f64,
    /// Longest delay, seconds.
    pub delay_max_s: f64,
    /// Sessions that confirmed a code.
    pub confirmed: u64,
    /// Price of their SMS that reached origin.
    pub cost: f64,
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(index).copied().unwrap_or(0.0)
}

impl Scoreboard {
    /// Scores `run` with `prices`.
    pub fn of(run: &Run, prices: &Prices) -> Scoreboard {
        let mut campaigns: Vec<CampaignScore> = run
            .mix
            .campaigns
            .iter()
            .map(|c| CampaignScore { name: c.name.clone(), ..CampaignScore::default() })
            .collect();
        let mut refusing_rules: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); campaigns.len()];
        let mut segments: Vec<SegmentScore> = run
            .mix
            .legit
            .segment_names()
            .into_iter()
            .map(|name| SegmentScore { name, ..SegmentScore::default() })
            .collect();
        // A campaign's send that came back with a solved CAPTCHA is one attempt: it counts once,
        // with the answer its last request got.
        let mut last_of: Vec<usize> = (0..run.sent.len()).collect();
        for (i, s) in run.sent.iter().enumerate() {
            if let Some(last) = s.retry_of.and_then(|f| last_of.get_mut(f)) {
                *last = i;
            }
        }
        for (index, first) in run.sent.iter().enumerate().filter(|(_, s)| s.kind == Kind::Send) {
            let price = prices.of(first.country);
            let sent = match first.truth {
                Truth::Campaign(_) if first.retry_of.is_some() => continue,
                Truth::Campaign(_) => last_of.get(index).and_then(|&i| run.sent.get(i)).unwrap_or(first),
                _ => first,
            };
            let action = sent.verdict.action.unwrap_or(Action::Block);
            match sent.truth {
                Truth::Campaign(i) => {
                    let Some(score) = campaigns.get_mut(i) else { continue };
                    score.sends += 1;
                    match action {
                        Action::Allow => {
                            score.reached_origin += 1;
                            score.cost_reached += price;
                        }
                        Action::Block | Action::Answer => score.blocked += 1,
                        Action::Challenge => score.challenged += 1,
                        Action::Throttle => score.throttled += 1,
                    }
                    if action != Action::Allow {
                        score.cost_refused += price;
                        // A refusal no single rule asked for (the risk score) is named by its finding.
                        let risk = sent.verdict.findings.iter().any(|f| f == "risk_score");
                        let rule = sent.verdict.rule.clone().unwrap_or_else(|| {
                            if risk {
                                "risk_score".to_owned()
                            } else {
                                sent.verdict.error.clone().unwrap_or_default()
                            }
                        });
                        if let Some(rules) = refusing_rules.get_mut(i) {
                            *rules.entry(rule).or_default() += 1;
                        }
                    }
                }
                Truth::Unlabelled | Truth::History(_) => {}
                Truth::Legit(i) => {
                    let Some(score) = segments.get_mut(i) else { continue };
                    score.sends += 1;
                    if action == Action::Allow {
                        score.cost += price;
                    } else {
                        score.sends_refused += 1;
                    }
                }
            }
        }
        for (score, rules) in campaigns.iter_mut().zip(&refusing_rules) {
            score.reached_share = share(score.reached_origin, score.sends);
            score.top_rule = rules.iter().max_by_key(|(_, n)| **n).map(|(r, _)| r.clone());
        }
        let mut delays: Vec<Vec<f64>> = vec![Vec::new(); segments.len()];
        for user in &run.users {
            let Some(score) = segments.get_mut(user.segment) else { continue };
            score.sessions += 1;
            score.sessions_challenged += u64::from(user.challenged);
            score.sessions_throttled += u64::from(user.throttled);
            score.confirmed += u64::from(user.confirmed);
            match user.first_sms_ms {
                None => score.sessions_refused += 1,
                Some(at) if at > user.first_attempt_ms => {
                    score.sessions_delayed += 1;
                    if let Some(d) = delays.get_mut(user.segment) {
                        d.push((at - user.first_attempt_ms) as f64 / 1000.0);
                    }
                }
                Some(_) => {}
            }
        }
        let mut all_delays: Vec<f64> = delays.iter().flatten().copied().collect();
        for (score, d) in segments.iter_mut().zip(delays.iter_mut()) {
            fill_delays(score, d);
        }
        let mut pumped = CampaignScore { name: "all".into(), ..CampaignScore::default() };
        for c in &campaigns {
            pumped.sends += c.sends;
            pumped.reached_origin += c.reached_origin;
            pumped.blocked += c.blocked;
            pumped.challenged += c.challenged;
            pumped.throttled += c.throttled;
            pumped.cost_reached += c.cost_reached;
            pumped.cost_refused += c.cost_refused;
        }
        pumped.reached_share = share(pumped.reached_origin, pumped.sends);
        let mut all_rules: BTreeMap<&String, u64> = BTreeMap::new();
        for rules in &refusing_rules {
            for (rule, n) in rules {
                *all_rules.entry(rule).or_default() += n;
            }
        }
        pumped.top_rule = all_rules.iter().max_by_key(|(_, n)| **n).map(|(r, _)| (*r).clone());
        let mut legit = SegmentScore { name: "all".into(), ..SegmentScore::default() };
        for s in &segments {
            legit.sessions += s.sessions;
            legit.sends += s.sends;
            legit.sends_refused += s.sends_refused;
            legit.sessions_refused += s.sessions_refused;
            legit.sessions_challenged += s.sessions_challenged;
            legit.sessions_throttled += s.sessions_throttled;
            legit.sessions_delayed += s.sessions_delayed;
            legit.confirmed += s.confirmed;
            legit.cost += s.cost;
        }
        fill_delays(&mut legit, &mut all_delays);
        Scoreboard {
            seed: run.seed,
            start_ms: run.mix.start_ms,
            hours: run.mix.hours,
            currency: prices.currency.clone(),
            pumped,
            campaigns,
            legit,
            segments,
            number_lookups: run.number_lookups,
            number_lookup_cost: run.number_lookups as f64
                * run.mix.number_intel.map_or(0.0, |model| model.price_per_lookup),
        }
    }

    /// The scoreboard as aligned text tables.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "pumped SMS by campaign (cost in {}):\n{:<18} {:>6} {:>7} {:>7} {:>6} {:>7} {:>7} {:>9} {:>9}  {}\n",
            self.currency, "campaign", "sends", "reached", "share", "block", "chall", "thrott", "cost", "refused", "top rule"
        ));
        for c in self.campaigns.iter().chain(std::iter::once(&self.pumped)) {
            out.push_str(&format!(
                "{:<18} {:>6} {:>7} {:>6.1}% {:>6} {:>7} {:>7} {:>9.2} {:>9.2}  {}\n",
                c.name,
                c.sends,
                c.reached_origin,
                c.reached_share * 100.0,
                c.blocked,
                c.challenged,
                c.throttled,
                c.cost_reached,
                c.cost_refused,
                c.top_rule.as_deref().unwrap_or("-")
            ));
        }
        out.push_str(&format!(
            "\nlegitimate users by segment:\n{:<18} {:>8} {:>6} {:>8} {:>8} {:>7} {:>7} {:>7} {:>8} {:>9} {:>9} {:>8}\n",
            "segment", "sessions", "sends", "refused", "share", "chall", "thrott", "delayed", "p50 s", "p90 s", "confirmed", "cost"
        ));
        for s in self.segments.iter().chain(std::iter::once(&self.legit)) {
            out.push_str(&format!(
                "{:<18} {:>8} {:>6} {:>8} {:>7.2}% {:>7} {:>7} {:>7} {:>8.0} {:>9.0} {:>9} {:>8.2}\n",
                s.name,
                s.sessions,
                s.sends,
                s.sessions_refused,
                s.refused_share * 100.0,
                s.sessions_challenged,
                s.sessions_throttled,
                s.sessions_delayed,
                s.delay_p50_s,
                s.delay_p90_s,
                s.confirmed,
                s.cost
            ));
        }
        if self.number_lookups > 0 {
            out.push_str(&format!("\nnumber lookups: {}", self.number_lookups));
            if self.number_lookup_cost > 0.0 {
                out.push_str(&format!(" ({:.2} {})", self.number_lookup_cost, self.currency));
            }
            out.push('\n');
        }
        out
    }
}

fn fill_delays(score: &mut SegmentScore, delays: &mut [f64]) {
    delays.sort_by(f64::total_cmp);
    score.refused_share = share(score.sessions_refused, score.sessions);
    score.delay_p50_s = percentile(delays, 0.5);
    score.delay_p90_s = percentile(delays, 0.9);
    score.delay_max_s = delays.last().copied().unwrap_or(0.0);
}
