//! The HTML report: one self-contained page (inline CSS and SVG, no scripts, nothing fetched)
//! an operator reads after an incident or before turning a shadow rule on.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pumpguard_core::Action;

use crate::scoreboard::Scoreboard;
use crate::sim::{Kind, Run, Sent, Truth};
use crate::svg::{escape, split_bars, stacked_timeline, Band, Series};

/// What the page says about where the run came from.
pub struct ReportInfo<'a> {
    /// Page title.
    pub title: &'a str,
    /// The policy's name or path.
    pub policy: &'a str,
    /// Ids of the policy's shadow rules (findings reported, never enforced).
    pub shadow_rules: &'a [String],
    /// Where decisions came from (`in process`, `http://…`).
    pub guard: &'a str,
}

const ACTIONS: [(Action, &str, &str); 4] = [
    (Action::Allow, "allowed", "#4caf50"),
    (Action::Challenge, "challenged", "#ffb300"),
    (Action::Throttle, "throttled", "#fb8c00"),
    (Action::Block, "blocked", "#e53935"),
];

fn action_of(sent: &Sent) -> Action {
    sent.verdict.action.unwrap_or(Action::Block)
}

fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}", (s / 3600) % 24, (s / 60) % 60)
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// Who the requests are split by: legitimate and pumped when the ground truth is known, one
/// group for unlabelled traffic.
struct Groups {
    names: &'static [&'static str],
}

impl Groups {
    fn of(run: &Run) -> Groups {
        let labelled = run.sent.iter().any(|s| s.truth != Truth::Unlabelled);
        Groups { names: if labelled { &["legitimate", "pumped"] } else { &["all"] } }
    }

    fn labelled(&self) -> bool {
        self.names.len() == 2
    }

    fn index(&self, sent: &Sent) -> usize {
        usize::from(self.labelled() && matches!(sent.truth, Truth::Campaign(_)))
    }
}

/// Renders the page. `board` is the scoreboard of a simulated run; recorded traffic has none.
pub fn html(run: &Run, board: Option<&Scoreboard>, info: &ReportInfo<'_>) -> String {
    let groups = Groups::of(run);
    let start = run.mix.start_ms;
    let span_ms = ((run.mix.hours * 3_600_000.0) as u64).max(60_000);
    // At most ~360 bars; whole minutes.
    let bin_ms = (span_ms / 360).div_ceil(60_000).max(1) * 60_000;
    let bins = span_ms.div_ceil(bin_ms) as usize;
    // History (earlier sign-ins, the warm-up's sessions) fed the guard's memory and is never
    // scored: the page shows the period's own requests, as the scoreboard counts them.
    let sends: Vec<&Sent> = run
        .sent
        .iter()
        .filter(|s| {
            s.kind == Kind::Send
                && (start..start + span_ms).contains(&s.at_ms)
                && !matches!(s.truth, Truth::History(_))
        })
        .collect();
    let timeline = |group: usize| -> Vec<Series<'static>> {
        ACTIONS
            .iter()
            .map(|(action, name, color)| {
                let mut values = vec![0u64; bins];
                for s in sends.iter().filter(|s| groups.index(s) == group && action_of(s) == *action) {
                    let bin = ((s.at_ms.saturating_sub(start)) / bin_ms) as usize;
                    if let Some(v) = values.get_mut(bin) {
                        *v += 1;
                    }
                }
                Series { name, color, values }
            })
            .collect()
    };
    let ticks: Vec<(usize, String)> = {
        let hour_bins = (3_600_000 / bin_ms).max(1) as usize;
        let step = hour_bins * ((bins / hour_bins).div_ceil(12)).max(1);
        (0..=bins).step_by(step.max(1)).map(|b| (b, clock(start + b as u64 * bin_ms))).collect()
    };
    let bands: Vec<Band> = run
        .mix
        .campaigns
        .iter()
        .map(|c| {
            let from = c.start_hours * 3_600_000.0 / bin_ms as f64;
            Band { label: c.name.clone(), from, to: from + c.hours * 3_600_000.0 / bin_ms as f64 }
        })
        .collect();
    let minutes = bin_ms / 60_000;
    let per = if minutes == 1 { "minute".to_owned() } else { format!("{minutes} minutes") };

    let mut page = String::with_capacity(256 * 1024);
    let _ = write!(
        page,
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1140px;color:#222;padding:0 12px}}
h1{{font-size:22px;margin:0 0 4px}} h2{{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}}
.meta{{color:#666}} .cards{{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}}
.card{{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:200px}} .card b{{display:block;font-size:22px}}
.bad b{{color:#c62828}} .good b{{color:#2e7d32}}
table{{border-collapse:collapse;margin:6px 0 14px;font-size:13px}} th,td{{border-bottom:1px solid #eee;padding:3px 8px;text-align:right}}
th{{background:#fafafa}} td:first-child,th:first-child{{text-align:left}} .chart{{max-width:100%;height:auto;display:block;margin:8px 0}}
.ct{{font-size:13px;font-weight:600}} .ax{{font-size:11px;fill:#444}} .bl{{font-size:10px;fill:#4a3aa8}} .note{{color:#666;font-size:12px}}
</style></head><body>
<h1>{title}</h1>
<div class="meta">policy <b>{policy}</b> · judged {guard}{seed} · {hours:.2} h from {start} UTC{warm_up} · {requests} guarded requests</div>
"##,
        title = escape(info.title),
        policy = escape(info.policy),
        guard = escape(info.guard),
        seed = if groups.labelled() { format!(" · seed {}", run.seed) } else { String::new() },
        hours = run.mix.hours,
        start = escape(&iso(start)),
        warm_up = match run.mix.legit.warm_up_hours {
            h if h > 0.0 => format!(" after {h:.2} h of warm-up (real users, not scored)"),
            _ => String::new(),
        },
        requests = run.sent.len(),
    );
    match board.filter(|_| groups.labelled()) {
        Some(board) => push_scoreboard_cards(&mut page, board),
        None => push_totals_cards(&mut page, &sends),
    }
    page.push_str("<h2>Timeline</h2>");
    if groups.labelled() {
        page.push_str(&stacked_timeline(
            &format!("Pumped SMS requests per {per}, by decision (campaign windows above)"),
            &timeline(1),
            &bands,
            &ticks,
            380.0,
        ));
        page.push_str(&stacked_timeline(
            &format!("Legitimate SMS requests per {per}, by decision"),
            &timeline(0),
            &[],
            &ticks,
            230.0,
        ));
    } else {
        page.push_str(&stacked_timeline(
            &format!("SMS requests per {per}, by decision"),
            &timeline(0),
            &[],
            &ticks,
            300.0,
        ));
    }
    if let Some(board) = board.filter(|_| groups.labelled()) {
        push_scoreboard_tables(&mut page, run, board);
    }

    // Deciding rules, per group.
    let mut rules: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for s in &sends {
        if action_of(s) == Action::Allow {
            continue;
        }
        let label = match (&s.verdict.rule, &s.verdict.error) {
            (Some(r), Some(e)) => format!("{r} ({e})"),
            (Some(r), None) => r.clone(),
            (None, Some(e)) => e.clone(),
            (None, None) => "(unnamed)".into(),
        };
        let counts = rules.entry(label).or_insert_with(|| vec![0; groups.names.len()]);
        if let Some(c) = counts.get_mut(groups.index(s)) {
            *c += 1;
        }
    }
    let mut rule_rows: Vec<(String, Vec<u64>)> = rules.into_iter().collect();
    rule_rows.sort_by(|a, b| b.1.iter().sum::<u64>().cmp(&a.1.iter().sum::<u64>()).then(a.0.cmp(&b.0)));
    rule_rows.truncate(15);
    page.push_str("<h2>Top rules</h2>");
    page.push_str(&if groups.labelled() {
        split_bars(
            "Refusals by deciding rule (legitimate in red: real users refused)",
            &[("legitimate", "#e53935"), ("pumped", "#5c6bc0")],
            &rule_rows,
        )
    } else {
        split_bars("Refusals by deciding rule", &[("refused", "#5c6bc0")], &rule_rows)
    });
    page.push_str(&breakdown(
        "Top prefixes (first 5 digits after +)",
        &sends,
        &groups,
        |s| s.number.chars().take(6).collect(),
        15,
    ));
    page.push_str(&breakdown(
        "Countries",
        &sends,
        &groups,
        |s| s.country.unwrap_or("(invalid)").to_owned(),
        20,
    ));
    page.push_str(&breakdown(
        "Client fingerprints (client family · JA4)",
        &sends,
        &groups,
        |s| format!("{} · {}", s.client, s.ja4.as_deref().unwrap_or("-")),
        15,
    ));
    page.push_str(&findings_table(&sends, &groups, info.shadow_rules));
    match board.filter(|_| groups.labelled()) {
        Some(board) => {
            let _ = write!(
                page,
                "<p class=\"note\">Ground truth (legitimate or which campaign) comes from the simulator and was never shown to the guard. Costs use the price table's estimates ({}).</p>",
                escape(&board.currency)
            );
        }
        None => page.push_str("<p class=\"note\">Recorded traffic: who sent each request is not known, so nothing here says which refusals were right.</p>"),
    }
    page.push_str("</body></html>\n");
    page
}

fn push_scoreboard_cards(page: &mut String, board: &Scoreboard) {
    let p = &board.pumped;
    let l = &board.legit;
    let _ = write!(
        page,
        r##"<div class="cards">
<div class="card {pc}"><span>pumped SMS that reached origin</span><b>{pr}</b>{preached} of {psends} requests</div>
<div class="card {pc}"><span>pumped SMS cost paid</span><b>{cost:.2} {cur}</b>{refused:.2} {cur} refused</div>
<div class="card {lc}"><span>real users refused (no SMS)</span><b>{lr}</b>{lrefused} of {lsessions} sessions</div>
<div class="card"><span>real users challenged / throttled / delayed</span><b>{lch} / {lth} / {ldel}</b>delay p50 {p50:.0} s, p90 {p90:.0} s</div>
</div>
"##,
        pc = if p.reached_share > 0.1 { "bad" } else { "good" },
        pr = pct(p.reached_origin, p.sends),
        preached = p.reached_origin,
        psends = p.sends,
        cost = p.cost_reached,
        refused = p.cost_refused,
        cur = escape(&board.currency),
        lc = if l.refused_share > 0.01 { "bad" } else { "good" },
        lr = pct(l.sessions_refused, l.sessions),
        lrefused = l.sessions_refused,
        lsessions = l.sessions,
        lch = l.sessions_challenged,
        lth = l.sessions_throttled,
        ldel = l.sessions_delayed,
        p50 = l.delay_p50_s,
        p90 = l.delay_p90_s,
    );
}

fn push_totals_cards(page: &mut String, sends: &[&Sent]) {
    let count = |action: Action| sends.iter().filter(|s| action_of(s) == action).count() as u64;
    let total = sends.len() as u64;
    page.push_str("<div class=\"cards\">");
    for (action, name, _) in ACTIONS {
        let n = count(action);
        let _ = write!(
            page,
            "<div class=\"card\"><span>SMS requests {name}</span><b>{}</b>{n} of {total}</div>",
            pct(n, total)
        );
    }
    page.push_str("</div>\n");
}

fn push_scoreboard_tables(page: &mut String, run: &Run, board: &Scoreboard) {
    page.push_str("<h2>Scoreboard: campaigns</h2><table><tr><th>campaign</th><th>sends</th><th>reached origin</th><th>share</th><th>blocked</th><th>challenged</th><th>throttled</th><th>cost paid</th><th>cost refused</th><th>top refusing rule</th></tr>");
    for c in board.campaigns.iter().chain(std::iter::once(&board.pumped)) {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
            escape(&c.name),
            c.sends,
            c.reached_origin,
            c.reached_share * 100.0,
            c.blocked,
            c.challenged,
            c.throttled,
            c.cost_reached,
            c.cost_refused,
            escape(c.top_rule.as_deref().unwrap_or("-"))
        );
    }
    page.push_str("</table>");
    let descriptions: String = run
        .mix
        .campaigns
        .iter()
        .map(|c| {
            format!(
                "<b>{}</b>: {}{}",
                escape(&c.name),
                escape(&c.description),
                if c.adaptive { " (adaptive)" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let _ = write!(page, "<p class=\"note\">{descriptions}.</p>");
    page.push_str("<h2>Scoreboard: real users</h2><table><tr><th>segment</th><th>sessions</th><th>SMS requests</th><th>requests refused</th><th>sessions refused</th><th>share</th><th>challenged</th><th>throttled</th><th>delayed</th><th>delay p50 s</th><th>p90 s</th><th>max s</th><th>confirmed</th></tr>");
    for s in board.segments.iter().chain(std::iter::once(&board.legit)) {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}%</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td></tr>",
            escape(&s.name),
            s.sessions,
            s.sends,
            s.sends_refused,
            s.sessions_refused,
            s.refused_share * 100.0,
            s.sessions_challenged,
            s.sessions_throttled,
            s.sessions_delayed,
            s.delay_p50_s,
            s.delay_p90_s,
            s.delay_max_s,
            s.confirmed
        );
    }
    page.push_str("</table>");
}

/// A table of sends grouped by `key`: per group, requests and the share refused.
fn breakdown(
    title: &str,
    sends: &[&Sent],
    groups: &Groups,
    key: impl Fn(&Sent) -> String,
    top: usize,
) -> String {
    // Per row: (requests, refused) per group.
    let mut rows: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for s in sends {
        let row = rows.entry(key(s)).or_insert_with(|| vec![(0, 0); groups.names.len()]);
        if let Some(cell) = row.get_mut(groups.index(s)) {
            cell.0 += 1;
            cell.1 += u64::from(action_of(s) != Action::Allow);
        }
    }
    let total = |row: &[(u64, u64)]| row.iter().map(|c| c.0).sum::<u64>();
    let mut rows: Vec<(String, Vec<(u64, u64)>)> = rows.into_iter().collect();
    rows.sort_by(|a, b| total(&b.1).cmp(&total(&a.1)).then(a.0.cmp(&b.0)));
    let mut out = format!("<h2>{}</h2><table><tr><th>value</th>", escape(title));
    if groups.labelled() {
        out.push_str("<th>requests</th>");
    }
    for name in groups.names {
        let label = if groups.labelled() { format!("{name} ") } else { String::new() };
        let _ = write!(out, "<th>{label}requests</th><th>{label}refused</th>");
    }
    out.push_str("</tr>");
    for (name, row) in rows.iter().take(top) {
        let _ = write!(out, "<tr><td>{}</td>", escape(name));
        if groups.labelled() {
            let _ = write!(out, "<td>{}</td>", total(row));
        }
        for (requests, refused) in row {
            let _ = write!(out, "<td>{requests}</td><td>{}</td>", pct(*refused, *requests));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

/// Every finding: how often it decided, how often it was only reported, per group.
fn findings_table(sends: &[&Sent], groups: &Groups, shadow_rules: &[String]) -> String {
    let n = groups.names.len();
    let mut rows: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for s in sends {
        for finding in &s.verdict.findings {
            let rule = finding.split_once(':').map(|(r, _)| r);
            let deciding =
                action_of(s) != Action::Allow && rule.is_some() && rule == s.verdict.rule.as_deref();
            let counts = rows.entry(finding.clone()).or_insert_with(|| vec![0; 2 * n]);
            if let Some(c) = counts.get_mut(usize::from(!deciding) * n + groups.index(s)) {
                *c += 1;
            }
        }
    }
    let mut out = String::from(
        "<h2>Findings: enforced vs reported only</h2><p class=\"note\">Shadow rules and report-only findings never refuse; their columns show what turning them on would touch.</p><table><tr><th>finding</th><th>mode</th>",
    );
    for column in ["decided", "reported only"] {
        for name in groups.names {
            let _ = write!(
                out,
                "<th>{column}{}</th>",
                if groups.labelled() { format!(": {name}") } else { String::new() }
            );
        }
    }
    out.push_str("</tr>");
    for (finding, counts) in &rows {
        let rule = finding.split_once(':').map(|(r, _)| r).unwrap_or("");
        let mode = if shadow_rules.iter().any(|r| r == rule) {
            "shadow"
        } else if finding.ends_with("country_monitored") {
            "monitor"
        } else {
            "enforced"
        };
        let _ = write!(out, "<tr><td>{}</td><td>{mode}</td>", escape(finding));
        for c in counts {
            let _ = write!(out, "<td>{c}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

/// `YYYY-MM-DD HH:MM` of a Unix time in ms (UTC).
fn iso(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {}", clock(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(iso(crate::mix::DEFAULT_START_MS), "2026-01-06 12:00");
        assert_eq!(iso(0), "1970-01-01 00:00");
    }
}
