//! The traffic mix: who sends, how much, from where, for how long. JSON, with a built-in
//! default (`Mix::default()`, printed by `pumpguard simulate --print-mix`) that every field can
//! override. See `docs/simulator.md`.

use serde::{Deserialize, Serialize};

use crate::clients::ClientKind;
use crate::network::Access;

/// 2026-01-06T12:00:00Z, a Tuesday: Europe's afternoon, America's morning.
pub const DEFAULT_START_MS: u64 = 1_767_700_800_000;

/// A whole simulated period.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mix {
    /// Start, in milliseconds since the Unix epoch (UTC).
    pub start_ms: u64,
    /// Length of the period in hours.
    pub hours: f64,
    /// The site's host name.
    pub host: String,
    /// Path of the route that sends the SMS.
    pub send_path: String,
    /// Path of the route that confirms the code.
    pub confirm_path: String,
    /// Header that carries a solved CAPTCHA token.
    pub token_header: String,
    /// Whether requests carry the TLS fingerprints the edge would compute (JA3, JA4).
    pub tls_fingerprints: bool,
    /// The header in which the edge in front names the country it geolocates the client
    /// address to (`cf-ipcountry` on Cloudflare); `null`: no such header.
    pub edge_country_header: Option<String>,
    /// The real users.
    pub legit: Legit,
    /// Pumping campaigns.
    pub campaigns: Vec<Campaign>,
    /// The number-intelligence provider the guard's host may ask, modelled by how good it is
    /// (an assumption, see docs/simulator.md); `null`: no provider (every lookup times out).
    pub number_intel: Option<crate::intel::IntelModel>,
    /// The bot score the edge in front gives each request (Cloudflare Bot Management),
    /// modelled by how good its detection is (an assumption); `null`: no scores.
    pub edge_bot_score: Option<crate::bot_score::BotScoreModel>,
    /// The device siteverify names for each solved CAPTCHA (Turnstile Enterprise's ephemeral
    /// IDs), modelled by how often real users share one (an assumption); `null`: none named.
    pub captcha_solver_ids: Option<crate::solver_ids::SolverIdModel>,
    /// The site imports the numbers its records hold for returning users through the guard's
    /// `trust_import` before the period (an assumption of how many it holds); `null`: no import.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_import: Option<crate::known_numbers::ImportModel>,
}

/// The legitimate population.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Legit {
    /// Sessions that need an SMS per day, before the daily curve.
    pub sessions_per_day: f64,
    /// Where users' numbers are from, weighted like a user base.
    pub countries: Vec<Weighted>,
    /// What users came to do.
    pub segments: Vec<Segment>,
    /// Share of sessions from the site's mobile apps (the rest are browsers).
    pub app_share: f64,
    /// Share of users on a phone browser or app that are on mobile data (carrier NAT or IPv6).
    pub cellular_share: f64,
    /// Share of desktop users behind an office's address.
    pub office_share: f64,
    /// Share of users who ask for a new code when it is slow to arrive.
    pub resend_share: f64,
    /// Share of challenged users who solve the CAPTCHA.
    pub solve_share: f64,
    /// Median seconds a throttled user is willing to wait.
    pub patience_median_s: f64,
    /// Share of sessions from another country than the number's: travellers on foreign
    /// networks (roaming mobile data mostly exits at home), expatriates keeping their number.
    pub abroad_share: f64,
    /// Share of sessions through Tor (drawn only when over 0, so a mix without them keeps every
    /// other draw): the edge says `T1`, and the exits are shared with every Tor user.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tor_share: f64,
    /// Share of returning users (the random segments marked `returning`) who confirmed an SMS
    /// code within the `history_days` before the period: the guard has seen them before.
    pub history_share: f64,
    /// How far back that history reaches, in days.
    pub history_days: f64,
    /// Hours of real users before the period (0: none): sessions of the random segments arrive
    /// over them as over the period and go through the guard like any, so its counters that learn
    /// from other users' traffic hold what a guard running that long would. These sessions are
    /// never scored (their requests are history). Crowds are events of the period: no warm-up.
    pub warm_up_hours: f64,
    /// Crowds behind one address (an office enrolling in SMS sign-in on the same morning, a
    /// campus, an event's Wi-Fi), each scored as a segment of its own.
    pub crowds: Vec<Crowd>,
    /// IPv6 /48s each carrier hands its phones' /64s out of, per country (`null`: wherever in its
    /// /32). A few put many real users in one /48, as a carrier NAT address does: the case a rule
    /// judging IPv6 networks must survive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cellular_v6_networks: Option<u16>,
}

fn is_zero(share: &f64) -> bool {
    *share == 0.0
}

/// Many real users behind a few addresses within a short window.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crowd {
    /// Segment name in the scoreboard.
    pub name: String,
    /// Start, hours after the period's start.
    pub start_hours: f64,
    /// How long the crowd keeps arriving.
    pub hours: f64,
    /// How many sessions.
    pub sessions: usize,
    /// Country of their numbers and address.
    pub country: String,
    /// How many public addresses they share.
    pub addresses: usize,
    /// Share of sessions that never enter the code.
    pub never_confirm: f64,
    /// The page the form is on (referer).
    pub page: String,
}

impl Legit {
    /// Segment names as the scoreboard lists them: the random segments, then the crowds.
    pub fn segment_names(&self) -> Vec<String> {
        self.segments
            .iter()
            .map(|s| s.name.clone())
            .chain(self.crowds.iter().map(|c| c.name.clone()))
            .collect()
    }

    /// Segment `index` of [`Legit::segment_names`], crowds seen as segments of returning users.
    pub fn segment(&self, index: usize) -> Option<Segment> {
        match self.segments.get(index) {
            Some(s) => Some(s.clone()),
            None => self.crowds.get(index.checked_sub(self.segments.len())?).map(|c| Segment {
                name: c.name.clone(),
                weight: 0.0,
                never_confirm: c.never_confirm,
                returning: true,
                page: c.page.clone(),
            }),
        }
    }
}

/// A value with a weight.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weighted {
    /// Country (ISO) or other name.
    pub name: String,
    /// Relative weight.
    pub weight: f64,
}

/// One kind of legitimate session.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// `signup`, `login`, `password_reset`, ...
    pub name: String,
    /// Relative share of sessions.
    pub weight: f64,
    /// Share of sessions that never enter the code.
    pub never_confirm: f64,
    /// Returning users carry a session cookie.
    pub returning: bool,
    /// The page the form is on (referer).
    pub page: String,
}

/// One pumping campaign.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Name in the scoreboard.
    pub name: String,
    /// What it models, in a sentence.
    #[serde(default)]
    pub description: String,
    /// Start, hours after the period's start.
    pub start_hours: f64,
    /// Duration in hours.
    pub hours: f64,
    /// Sends per hour it aims at.
    pub rate_per_hour: f64,
    /// Rides the legitimate daily curve (more when real users are many).
    #[serde(default)]
    pub follow_curve: bool,
    /// Where its requests come from.
    pub addresses: Addresses,
    /// What client it looks like.
    pub client: CampaignClient,
    /// Which numbers it pumps.
    pub numbers: NumberPlan,
    /// What it does about CAPTCHA tokens.
    #[serde(default)]
    pub tokens: TokenPlan,
    /// Share of sends followed by a confirm with a made-up code (origin answers 400).
    #[serde(default)]
    pub fake_confirm_share: f64,
    /// Share of sends that reached origin whose code the operator receives and enters, as a user
    /// would (tens of seconds later, from the same exit): numbers it earns on whose SMS it can
    /// read, such as a terminating carrier's or an intermediary's that short-stops them. Its
    /// confirmations are real to origin (it answers 200), so conversion and trust count them.
    #[serde(default)]
    pub enters_codes_share: f64,
    /// Share of its sends that go again to a number whose code it entered, once it has one: what
    /// an operator who read that a confirmed number is trusted does with it. Per-number limits
    /// and backoff judge these like anyone's.
    #[serde(default)]
    pub revisits_entered_share: f64,
    /// Reacts to 429 and 403: backs off, rotates addresses and clients, spreads numbers.
    #[serde(default)]
    pub adaptive: bool,
    /// Sends each request from an exit in its number's country (residential proxy services
    /// sell addresses by country per request): what an operator who read the policy does
    /// against a client-country signal from the first send.
    #[serde(default)]
    pub local_exits: bool,
    /// How many devices its CAPTCHA-solving service solves this site's challenges on, by turn
    /// (they show as ephemeral IDs under `mix.captcha_solver_ids`); `null`: a fresh device for
    /// every solve. An assumption: a service's pool is not published.
    #[serde(default)]
    pub solver_devices: Option<u32>,
    /// Its service's devices get ids real users share (`mix.captcha_solver_ids`' pool): devices
    /// that hand the provider few signals look alike, a solving service's as much as anyone's.
    #[serde(default)]
    pub solves_on_shared_ids: bool,
}

/// A campaign's address pool.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Addresses {
    /// How the addresses reach the internet.
    pub access: Access,
    /// How many distinct addresses.
    pub size: usize,
    /// Countries the addresses are in.
    pub countries: Vec<String>,
}

/// What a campaign's requests look like.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum CampaignClient {
    /// One kind of client for every request.
    Fixed {
        /// Which.
        client: ClientKind,
    },
    /// Real browser header sets, as real users' (new identity now and then).
    Browsers,
    /// Browser-like headers, user agent, language and header order changing on every request.
    Rotating,
}

/// Which numbers a campaign sends to.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum NumberPlan {
    /// Valid mobile numbers of these countries, drawn over every range.
    Mobile {
        /// Countries (ISO).
        countries: Vec<String>,
    },
    /// Premium-rate, shared-cost and UAN numbers of these countries.
    Premium {
        /// Countries (ISO).
        countries: Vec<String>,
    },
    /// Consecutive numbers from a random start in each country.
    Sequential {
        /// Countries (ISO).
        countries: Vec<String>,
    },
    /// Mobile numbers under a few prefixes of one country (the ranges a partner carrier pays for).
    Prefixes {
        /// Country (ISO).
        country: String,
        /// How many prefixes.
        count: usize,
        /// Digits of each prefix after the '+', calling code included.
        digits: usize,
    },
}

impl NumberPlan {
    /// The countries the plan draws numbers of.
    pub fn countries(&self) -> Vec<String> {
        match self {
            NumberPlan::Mobile { countries }
            | NumberPlan::Premium { countries }
            | NumberPlan::Sequential { countries } => countries.clone(),
            NumberPlan::Prefixes { country, .. } => vec![country.clone()],
        }
    }
}

/// A campaign's CAPTCHA behaviour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPlan {
    /// Sends no token; gives up on a challenge for that request.
    #[default]
    None,
    /// Sends one solved token, captured once, on every request.
    Replayed,
    /// Pays a solving service: a fresh valid token after a challenge.
    Solved,
}

fn w(name: &str, weight: f64) -> Weighted {
    Weighted { name: name.to_owned(), weight }
}

fn list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for Legit {
    fn default() -> Self {
        Legit {
            sessions_per_day: 11_000.0,
            countries: vec![w("US", 0.44), w("GB", 0.19), w("DE", 0.15), w("FR", 0.13), w("CA", 0.09)],
            segments: vec![
                Segment {
                    name: "signup".into(),
                    weight: 0.40,
                    never_confirm: 0.22,
                    returning: false,
                    page: "/signup".into(),
                },
                Segment {
                    name: "login".into(),
                    weight: 0.45,
                    never_confirm: 0.08,
                    returning: true,
                    page: "/login".into(),
                },
                Segment {
                    name: "password_reset".into(),
                    weight: 0.15,
                    never_confirm: 0.15,
                    returning: true,
                    page: "/account/reset".into(),
                },
            ],
            app_share: 0.35,
            cellular_share: 0.6,
            office_share: 0.12,
            resend_share: 0.12,
            solve_share: 0.96,
            patience_median_s: 120.0,
            abroad_share: 0.03,
            tor_share: 0.0,
            history_share: 0.6,
            history_days: 30.0,
            warm_up_hours: 0.0,
            crowds: vec![Crowd {
                name: "office_enrollment".into(),
                start_hours: 1.5,
                hours: 0.75,
                sessions: 70,
                country: "GB".into(),
                addresses: 1,
                never_confirm: 0.03,
                page: "/settings/security".into(),
            }],
            cellular_v6_networks: None,
        }
    }
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            start_ms: DEFAULT_START_MS,
            hours: 6.0,
            host: "app.example.com".into(),
            send_path: "/api/otp/send".into(),
            confirm_path: "/api/otp/verify".into(),
            token_header: "cf-turnstile-response".into(),
            tls_fingerprints: true,
            edge_country_header: Some("cf-ipcountry".into()),
            legit: Legit::default(),
            campaigns: default_campaigns(),
            number_intel: None,
            edge_bot_score: None,
            captcha_solver_ids: None,
            trust_import: None,
        }
    }
}

fn campaign(
    name: &str,
    description: &str,
    (start, hours, rate): (f64, f64, f64),
    addresses: Addresses,
    client: CampaignClient,
    numbers: NumberPlan,
) -> Campaign {
    Campaign {
        name: name.into(),
        description: description.into(),
        start_hours: start,
        hours,
        rate_per_hour: rate,
        follow_curve: false,
        addresses,
        client,
        numbers,
        tokens: TokenPlan::None,
        fake_confirm_share: 0.0,
        enters_codes_share: 0.0,
        revisits_entered_share: 0.0,
        adaptive: false,
        local_exits: false,
        solver_devices: None,
        solves_on_shared_ids: false,
    }
}

fn addresses(access: Access, size: usize, countries: &[&str]) -> Addresses {
    Addresses { access, size, countries: list(countries) }
}

const SERVED_HIGH_PRICE: [&str; 3] = ["GB", "DE", "FR"];
const PUMPED_DESTINATIONS: [&str; 8] = ["LV", "KZ", "UZ", "TJ", "KG", "AZ", "SL", "GN"];
const PROXY_EXITS: [&str; 10] = ["US", "GB", "DE", "FR", "BR", "IN", "ID", "VN", "PK", "MX"];

/// The default campaigns: one per technique seen in SMS pumping reports.
pub fn default_campaigns() -> Vec<Campaign> {
    let fixed = |client| CampaignClient::Fixed { client };
    vec![
        campaign(
            "premium-ranges",
            "premium-rate, shared-cost and UAN numbers of served countries, from a few rented servers",
            (0.5, 3.0, 60.0),
            addresses(Access::Datacenter, 8, &["US", "DE"]),
            fixed(ClientKind::PythonRequests),
            NumberPlan::Premium { countries: list(&["GB", "DE", "FR", "US"]) },
        ),
        campaign(
            "irsf-unserved",
            "mobile numbers of unserved high-termination countries, through residential proxies and a headless browser",
            (1.0, 2.0, 150.0),
            addresses(Access::Residential, 600, &PROXY_EXITS),
            fixed(ClientKind::HeadlessChrome),
            NumberPlan::Mobile { countries: list(&PUMPED_DESTINATIONS) },
        ),
        campaign(
            "sequential-block",
            "consecutive numbers of one mobile range from two servers",
            (2.0, 1.0, 120.0),
            addresses(Access::Datacenter, 2, &["NL"]),
            fixed(ClientKind::GoHttp),
            NumberPlan::Sequential { countries: list(&["GB"]) },
        ),
        campaign(
            "burst-few-ips",
            "a short burst from three servers to random served mobile numbers",
            (3.0, 1.0 / 3.0, 600.0),
            addresses(Access::Datacenter, 3, &["US"]),
            fixed(ClientKind::NodeAxios),
            NumberPlan::Mobile { countries: list(&["GB", "FR"]) },
        ),
        Campaign {
            adaptive: true,
            ..campaign(
                "low-and-slow",
                "a trickle under any per-IP limit, across a few prefixes of a served country, from home addresses of that country",
                (0.0, 6.0, 40.0),
                addresses(Access::Residential, 300, &["GB"]),
                CampaignClient::Browsers,
                NumberPlan::Prefixes { country: "GB".into(), count: 3, digits: 6 },
            )
        },
        Campaign {
            adaptive: true,
            ..campaign(
                "resi-botnet",
                "a residential-proxy botnet rotating addresses, user agents and header order",
                (1.5, 4.0, 200.0),
                addresses(Access::Residential, 5000, &["US", "GB", "DE", "FR", "CA"]),
                CampaignClient::Rotating,
                NumberPlan::Mobile { countries: list(&SERVED_HIGH_PRICE) },
            )
        },
        Campaign {
            follow_curve: true,
            ..campaign(
                "peak-rider",
                "rides the legitimate daily curve with real browser header sets",
                (0.0, 6.0, 100.0),
                addresses(Access::Residential, 2000, &["US", "GB", "DE", "FR"]),
                CampaignClient::Browsers,
                NumberPlan::Mobile { countries: list(&["DE", "FR", "GB", "US"]) },
            )
        },
        Campaign {
            fake_confirm_share: 0.3,
            adaptive: true,
            ..campaign(
                "browser-twins",
                "a botnet indistinguishable from browsers at the request level (headers, cookies, languages, home and mobile addresses); only outcomes such as conversion expose it",
                (0.0, 6.0, 80.0),
                addresses(Access::Residential, 3000, &["DE"]),
                CampaignClient::Browsers,
                NumberPlan::Mobile { countries: list(&["DE"]) },
            )
        },
        Campaign {
            tokens: TokenPlan::Solved,
            solver_devices: Some(20),
            adaptive: true,
            ..campaign(
                "captcha-farm",
                "real browser header sets through residential proxies, paying a solving service for every CAPTCHA it is shown",
                (3.0, 3.0, 100.0),
                addresses(Access::Residential, 2000, &["US", "GB", "DE", "FR"]),
                CampaignClient::Browsers,
                NumberPlan::Mobile { countries: list(&SERVED_HIGH_PRICE) },
            )
        },
        Campaign {
            tokens: TokenPlan::Replayed,
            ..campaign(
                "captcha-replay",
                "replays one captured CAPTCHA token on every request",
                (4.0, 2.0, 60.0),
                addresses(Access::Datacenter, 20, &["US"]),
                fixed(ClientKind::PythonRequests),
                NumberPlan::Mobile { countries: list(&["GB", "DE"]) },
            )
        },
        Campaign {
            adaptive: true,
            ..campaign(
                "adaptive-irsf",
                "starts from servers to unserved countries; after 429/403 backs off, moves to residential proxies, rotates clients and drops refused destinations",
                (2.0, 4.0, 300.0),
                addresses(Access::Datacenter, 4, &["US"]),
                fixed(ClientKind::PythonRequests),
                NumberPlan::Mobile { countries: list(&["KZ", "UZ", "GB", "DE", "FR", "LV"]) },
            )
        },
    ]
}
