//! The `extract` section of a route: its configuration types and their validation into an
//! [`Extractor`].

use super::names::{fold_owned, MAX_NAME_LEN};
use super::path::{self, Step};
use super::plan::{bit, FieldPlan, JsonPlan, PairPlan, ValueFilter, MAX_NAMES, MAX_PAIR_SPECS};
use super::preset::Preset;
use super::split::{SplitPair, SplitPlan, MAX_SPLIT_PAIRS};
use super::Extractor;
use crate::config::ConfigErrors;

/// Where a route's requests carry phone numbers and the CAPTCHA token.
///
/// Every source listed is read; a preset adds its own sources to these. Names (JSON keys, form
/// fields, query parameters, pair names) match ASCII case-insensitively.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractSpec {
    /// A well-known API's request shape; see [`Preset`] for what each one reads.
    #[serde(default)]
    pub preset: Option<Preset>,
    /// JSON paths of numbers: `"phone"`, `"user.phone"`, `"recipients[*].to"`, `"data[0].msisdn"`.
    #[serde(default)]
    pub json_paths: Vec<String>,
    /// JSON keys whose values are numbers wherever they appear in the document.
    #[serde(default)]
    pub json_keys: Vec<String>,
    /// Arrays of `{Name, Value}` pair objects, as in Cognito's `UserAttributes`.
    #[serde(default)]
    pub json_name_value: Vec<NameValueSpec>,
    /// Fields of `application/x-www-form-urlencoded` and `multipart/form-data` bodies.
    #[serde(default)]
    pub form_fields: Vec<String>,
    /// Query string parameters, read whatever the body is.
    #[serde(default)]
    pub query_params: Vec<String>,
    /// Numbers split over a country part and a national part, read as the origin joins them.
    #[serde(default)]
    pub split_numbers: Vec<SplitNumberSpec>,
    /// Where the CAPTCHA/Turnstile token is; replaces a preset's token source.
    #[serde(default)]
    pub token: Option<TokenSource>,
    /// Entries of `json_paths`, `form_fields` or `query_params` (written the same way) whose
    /// values are numbers only when they start with `+`: fields such as a user name that hold a
    /// phone number in E.164 or anything else (the Cognito preset reads `Username` so).
    #[serde(default)]
    pub plus_only: Vec<String>,
    /// JSON paths of the account a request names (a user name, an enrolment id), for routes
    /// whose requests may name an account instead of a number (a resend, a password reset, a
    /// sign-in by user name: the service sends to the number it holds). A send naming one is
    /// not `no_number`, and `rate_limit` keys may count it (`"account"`). The value is trimmed
    /// and lower-cased. Added to a preset's (`cognito`, `firebase`). A value a `plus_only` source
    /// or a preset's filter turns away (a user name, an e-mail address) is the account too.
    #[serde(default)]
    pub account_json_paths: Vec<String>,
}

/// An array of pair objects such as `"UserAttributes": [{"Name": "phone_number", "Value": "+1..."}]`:
/// the `value_key` of every element whose `name_key` is one of `names` is a number.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameValueSpec {
    /// JSON path of the array, e.g. `"UserAttributes"` (same syntax as `json_paths`).
    pub array: String,
    /// The key holding each element's name.
    #[serde(default = "default_name_key")]
    pub name_key: String,
    /// The key holding each element's value.
    #[serde(default = "default_value_key")]
    pub value_key: String,
    /// Names whose value is a phone number, e.g. `["phone_number"]`.
    pub names: Vec<String>,
}

/// A number written in two fields of one JSON object, form body or query string:
/// `{"country": "country_code", "national": "phone"}` reads `{"country_code": "+234", "phone":
/// "8031234567"}` as +234 803 123 4567. The country part may be a calling code (`+234`, `234`,
/// `00234`) or a region code (`NG`). Both names are looked for at any JSON depth, in form and
/// multipart bodies and in the query string.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitNumberSpec {
    /// The field holding the calling code or region code.
    pub country: String,
    /// The field holding the rest of the number.
    pub national: String,
}

fn default_name_key() -> String {
    "Name".to_owned()
}

fn default_value_key() -> String {
    "Value".to_owned()
}

/// Where the CAPTCHA token is; written `{"header": "cf-turnstile-response"}`,
/// `{"form_field": "cf-turnstile-response"}` or `{"json_path": "captcha.token"}`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TokenSource {
    /// A request header (matched case-insensitively).
    Header(String),
    /// A field of a urlencoded or multipart body.
    FormField(String),
    /// A JSON path, same syntax as `json_paths`.
    JsonPath(String),
}

impl ExtractSpec {
    /// Whether the route's requests may ask for an SMS by naming an account instead of a number:
    /// listed paths, `plus_only` user names, the Cognito and Firebase presets. (Twilio's e-mail
    /// addresses are accounts too, but ask for no SMS.)
    pub fn sends_by_account(&self) -> bool {
        !self.account_json_paths.is_empty()
            || !self.plus_only.is_empty()
            || self.preset.is_some_and(|preset| !preset.sources().account_json_paths.is_empty())
    }

    /// Whether the route's requests may name an account: listed paths, `plus_only` sources (a
    /// value that is not a number there is one), or a preset that reads one.
    pub fn reads_account(&self) -> bool {
        !self.account_json_paths.is_empty()
            || !self.plus_only.is_empty()
            || self.preset.is_some_and(|preset| preset.sources().names_accounts())
    }

    /// Validates the spec and compiles it. Every problem is pushed onto `errs` under `path`
    /// (the JSON path of this spec in the policy, e.g. `routes[0].extract`); `None` if any.
    pub fn compile(&self, path: &str, errs: &mut ConfigErrors) -> Option<Extractor> {
        let before = errs.errors.len();
        let mut json = JsonPlan::default();
        let mut form = FieldPlan::default();
        let mut query = FieldPlan::default();

        // The preset goes first, so a conflict with it is reported at the explicit entry.
        if let Some(preset) = self.preset {
            add_preset(
                preset,
                self.token.is_none(),
                &mut json,
                &mut form,
                &mut query,
                &format!("{path}.preset"),
                errs,
            );
        }

        // Explicit number nodes, to report two spellings of one path.
        let mut path_nodes: Vec<usize> = Vec::new();
        for (i, p) in self.json_paths.iter().enumerate() {
            let at = format!("{path}.json_paths[{i}]");
            let Some(node) = compile_path(&mut json, p, &at, errs) else { continue };
            if let Some(j) = path_nodes.iter().position(|&n| n == node) {
                errs.push(
                    at,
                    format!("{p:?} is the same path as json_paths[{j}] (keys match case-insensitively)"),
                );
            }
            path_nodes.push(node);
            json.mark_number(node, self.filter_of(p));
        }

        for name in checked_names(&self.json_keys, &format!("{path}.json_keys"), "JSON key", errs) {
            json.keys.insert(fold_owned(name));
        }

        let mut pair_nodes: Vec<usize> = Vec::new();
        for (i, spec) in self.json_name_value.iter().enumerate() {
            let at = format!("{path}.json_name_value[{i}]");
            let node = compile_path(&mut json, &spec.array, &format!("{at}.array"), errs);
            let name_key_ok = check_name(&spec.name_key, &format!("{at}.name_key"), "name key", errs);
            let value_key_ok = check_name(&spec.value_key, &format!("{at}.value_key"), "value key", errs);
            if name_key_ok && value_key_ok && fold_owned(&spec.name_key) == fold_owned(&spec.value_key) {
                errs.push(
                    format!("{at}.value_key"),
                    format!(
                        "{:?} is also the name key; the name and the value need two different keys",
                        spec.value_key
                    ),
                );
            }
            if spec.names.is_empty() {
                errs.push(format!("{at}.names"), "no names listed; expected e.g. [\"phone_number\"]");
            }
            let names = checked_names(&spec.names, &format!("{at}.names"), "pair name", errs);
            let Some(node) = node else { continue };
            if let Some(j) = pair_nodes.iter().position(|&n| n == node) {
                errs.push(
                    format!("{at}.array"),
                    format!("json_name_value[{j}] already reads this array; list every name in one entry"),
                );
                continue;
            }
            pair_nodes.push(node);
            add_pairs(&mut json, node, &spec.name_key, &spec.value_key, &names, &at, errs);
        }

        for name in checked_names(&self.form_fields, &format!("{path}.form_fields"), "form field", errs) {
            form.insert(name, self.filter_of(name));
        }
        for name in
            checked_names(&self.query_params, &format!("{path}.query_params"), "query parameter", errs)
        {
            query.insert(name, self.filter_of(name));
        }

        let split = compile_splits(self, path, &mut json, &mut form, &mut query, errs);

        let mut token_header = None;
        match &self.token {
            None => {}
            Some(TokenSource::Header(name)) => {
                let at = format!("{path}.token.header");
                if name.is_empty() || !name.bytes().all(is_header_name_byte) {
                    errs.push(
                        at,
                        format!("{name:?} is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)"),
                    );
                } else {
                    token_header = Some(name.to_ascii_lowercase().into_boxed_str());
                }
            }
            Some(TokenSource::FormField(name)) => {
                let at = format!("{path}.token.form_field");
                if check_name(name, &at, "form field", errs) {
                    let folded = fold_owned(name);
                    if form.names.find(&folded).is_some() {
                        errs.push(at, format!("{name:?} is also in form_fields; the token and the number need different fields"));
                    }
                    form.token = Some(folded);
                }
            }
            Some(TokenSource::JsonPath(p)) => {
                let at = format!("{path}.token.json_path");
                if let Some(node) = compile_path(&mut json, p, &at, errs) {
                    if path_nodes.contains(&node) {
                        errs.push(
                            at,
                            format!(
                                "{p:?} is also in json_paths; the token and the number need different paths"
                            ),
                        );
                    }
                    json.mark_token(node);
                }
            }
        }

        for (i, p) in self.account_json_paths.iter().enumerate() {
            let at = format!("{path}.account_json_paths[{i}]");
            let Some(node) = compile_path(&mut json, p, &at, errs) else { continue };
            if json.nodes.get(node).is_some_and(|n| n.token) {
                errs.push(at, format!("{p:?} is also the token's path; an account needs a path of its own"));
            }
            json.mark_account(node, &[]);
        }

        for (i, name) in self.plus_only.iter().enumerate() {
            let listed = self.json_paths.contains(name)
                || [&self.form_fields, &self.query_params]
                    .iter()
                    .any(|list| list.iter().any(|n| fold_owned(n) == fold_owned(name)));
            if !listed {
                errs.push(
                    format!("{path}.plus_only[{i}]"),
                    format!("{name:?} is not in json_paths, form_fields or query_params"),
                );
            }
        }

        let has_sources = json.number_nodes != 0
            || !json.keys.is_empty()
            || !json.pairs.is_empty()
            || !form.names.is_empty()
            || !query.names.is_empty()
            || !split.is_empty()
            || json.account_nodes != 0;
        if !has_sources && errs.errors.len() == before {
            errs.push(
                path,
                "no phone number source: set \"preset\" or at least one of json_paths, json_keys, \
                 json_name_value, form_fields, query_params, split_numbers (or account_json_paths)",
            );
        }
        for (len, list) in [
            (json.keys.len(), "json_keys"),
            (form.names.len(), "form_fields"),
            (query.names.len(), "query_params"),
        ] {
            if len > MAX_NAMES {
                errs.push(
                    format!("{path}.{list}"),
                    format!("{len} names; at most {MAX_NAMES} (a preset's count too)"),
                );
            }
        }

        if errs.errors.len() > before {
            return None;
        }
        json.finish();
        let bearer_claims = self.preset.map(|p| p.sources().bearer_claims).unwrap_or_default();
        Some(Extractor { json, form, query, token_header, bearer_claims, split })
    }
}

/// Validates `split_numbers` and registers both names of each pair as sources of every kind, so
/// the scanners return them (with their duplicate checks) for the pair to be joined afterwards.
fn compile_splits(
    spec: &ExtractSpec,
    path: &str,
    json: &mut JsonPlan,
    form: &mut FieldPlan,
    query: &mut FieldPlan,
    errs: &mut ConfigErrors,
) -> SplitPlan {
    let mut plan = SplitPlan::default();
    // The spec index of each kept pair, to name it in errors.
    let mut kept: Vec<usize> = Vec::new();
    if spec.split_numbers.len() > MAX_SPLIT_PAIRS {
        errs.push(
            format!("{path}.split_numbers"),
            format!("{} entries; at most {MAX_SPLIT_PAIRS}", spec.split_numbers.len()),
        );
        return plan;
    }
    let listed: Vec<Box<[u8]>> = spec
        .json_keys
        .iter()
        .chain(&spec.form_fields)
        .chain(&spec.query_params)
        .map(|n| fold_owned(n))
        .collect();
    for (i, pair) in spec.split_numbers.iter().enumerate() {
        let at = format!("{path}.split_numbers[{i}]");
        let country_ok = check_name(&pair.country, &format!("{at}.country"), "country field", errs);
        let national_ok = check_name(&pair.national, &format!("{at}.national"), "national field", errs);
        if !(country_ok && national_ok) {
            continue;
        }
        let (country, national) = (fold_owned(&pair.country), fold_owned(&pair.national));
        if country == national {
            errs.push(
                format!("{at}.national"),
                "the same field as the country part; a pair needs two fields",
            );
            continue;
        }
        let mut clash = false;
        for (field, name, folded) in
            [("country", &pair.country, &country), ("national", &pair.national, &national)]
        {
            if listed.contains(folded) {
                errs.push(
                    format!("{at}.{field}"),
                    format!(
                        "{name:?} is also in json_keys, form_fields or query_params; a field is either a \
                         whole number or one part of a split one"
                    ),
                );
                clash = true;
            }
        }
        let earlier = plan
            .pairs
            .iter()
            .position(|p| p.national == national || p.national == country || p.country == national);
        if let Some(j) = earlier.and_then(|k| kept.get(k)) {
            errs.push(
                at.clone(),
                format!("shares a national field with split_numbers[{j}]; each national field has one country part"),
            );
            clash = true;
        }
        if clash {
            continue;
        }
        for name in [&pair.country, &pair.national] {
            json.keys.insert(fold_owned(name));
            form.insert(name, ValueFilter::Any);
            query.insert(name, ValueFilter::Any);
        }
        plan.pairs.push(SplitPair { country, national });
        kept.push(i);
    }
    plan
}

impl ExtractSpec {
    /// The filter of an explicit source: only values starting with `+` when `plus_only` names it.
    fn filter_of(&self, name: &str) -> ValueFilter {
        if self.plus_only.iter().any(|p| p == name || fold_owned(p) == fold_owned(name)) {
            ValueFilter::LeadingPlus
        } else {
            ValueFilter::Any
        }
    }
}

/// Parses a configured path into the trie; reports problems at `at`.
fn compile_path(json: &mut JsonPlan, p: &str, at: &str, errs: &mut ConfigErrors) -> Option<usize> {
    let steps = match path::parse(p) {
        Ok(steps) => steps,
        Err(message) => {
            errs.push(at, format!("{p:?}: {message}"));
            return None;
        }
    };
    for step in &steps {
        if let Step::Key(k) = step {
            if fold_owned(k).len() > MAX_NAME_LEN {
                errs.push(at, format!("key {k:?} is longer than {MAX_NAME_LEN} bytes"));
                return None;
            }
        }
    }
    let node = json.insert_path(&steps);
    if node.is_none() {
        errs.push(at, "too many JSON path steps in this spec (at most 63 distinct steps, presets included)");
    }
    node
}

/// Adds a pair spec at `node`, merging with one already there (a preset's) when the keys agree.
fn add_pairs(
    json: &mut JsonPlan,
    node: usize,
    name_key: &str,
    value_key: &str,
    names: &[&str],
    at: &str,
    errs: &mut ConfigErrors,
) {
    let (name_key, value_key) = (fold_owned(name_key), fold_owned(value_key));
    let here = json.nodes.get(node).map_or(0, |n| u64::from(n.pairs));
    let existing = (0..json.pairs.len()).find(|&i| here & bit(i) != 0);
    let index = match existing.and_then(|i| Some((i, json.pairs.get(i)?))) {
        Some((i, p)) if p.name_key == name_key && p.value_key == value_key => i,
        Some(_) => {
            errs.push(format!("{at}.array"), "another name/value entry reads this array with different keys");
            return;
        }
        None if json.pairs.len() >= MAX_PAIR_SPECS => {
            errs.push(at, format!("too many name/value arrays; at most {MAX_PAIR_SPECS}, presets included"));
            return;
        }
        None => {
            json.pairs.push(PairPlan { name_key, value_key, names: Default::default() });
            let i = json.pairs.len() - 1;
            if let (Some(n), Ok(b)) = (json.nodes.get_mut(node), u8::try_from(bit(i))) {
                n.pairs |= b;
            }
            i
        }
    };
    if let Some(pair) = json.pairs.get_mut(index) {
        for name in names {
            pair.names.insert(fold_owned(name));
        }
    }
}

fn add_preset(
    preset: Preset,
    with_token: bool,
    json: &mut JsonPlan,
    form: &mut FieldPlan,
    query: &mut FieldPlan,
    at: &str,
    errs: &mut ConfigErrors,
) {
    let sources = preset.sources();
    json.proto_names |= sources.proto_names;
    for (p, filter) in sources.json_paths {
        if let Some(node) = compile_path(json, p, at, errs) {
            json.mark_number(node, *filter);
        }
    }
    for pairs in sources.json_name_value {
        if let Some(node) = compile_path(json, pairs.array, at, errs) {
            add_pairs(json, node, pairs.name_key, pairs.value_key, pairs.names, at, errs);
        }
    }
    for (name, filter) in sources.form_fields {
        form.insert(name, *filter);
    }
    for (name, filter) in sources.query_params {
        query.insert(name, *filter);
    }
    for (p, claims) in sources.account_json_paths {
        if let Some(node) = compile_path(json, p, at, errs) {
            json.mark_account(node, claims);
        }
    }

    if with_token {
        json.token_placeholders = sources.token_placeholders;
        for p in sources.token_json_paths {
            if let Some(node) = compile_path(json, p, at, errs) {
                json.mark_token(node);
            }
        }
    }
}

fn check_name(name: &str, at: &str, what: &str, errs: &mut ConfigErrors) -> bool {
    if name.is_empty() {
        errs.push(at, format!("empty {what}; expected a name such as \"phone\""));
        return false;
    }
    let len = fold_owned(name).len();
    if len > MAX_NAME_LEN {
        errs.push(at, format!("{what} is {len} bytes long; at most {MAX_NAME_LEN}"));
        return false;
    }
    true
}

/// The valid, distinct names of a list; reports the others at `at[i]`.
fn checked_names<'a>(list: &'a [String], at: &str, what: &str, errs: &mut ConfigErrors) -> Vec<&'a str> {
    let mut kept: Vec<(usize, Box<[u8]>, &str)> = Vec::new();
    let field = at.rsplit('.').next().unwrap_or(at);
    for (i, name) in list.iter().enumerate() {
        let at_i = format!("{at}[{i}]");
        if !check_name(name, &at_i, what, errs) {
            continue;
        }
        let folded = fold_owned(name);
        if let Some((j, _, _)) = kept.iter().find(|(_, f, _)| *f == folded) {
            errs.push(at_i, format!("{name:?} repeats {field}[{j}] (names match case-insensitively)"));
            continue;
        }
        kept.push((i, folded, name));
    }
    kept.into_iter().map(|(_, _, name)| name).collect()
}

/// RFC 9110 `tchar`.
pub(crate) fn is_header_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
