//! Routes checked and compiled: ids, match conditions, and what a confirm route counts as success.

use std::collections::HashSet;
use std::sync::Arc;

use crate::extract::Preset;
use crate::routes::{
    Conditions, ConfirmSuccess, HeaderCondition, HostPattern, JsonCondition, ParamCondition, PathPattern,
    Route,
};

use super::{check_id, ConfigErrors, MatchDoc, PathMatchDoc, RouteDoc, RouteKind, SuccessJsonDoc};

pub(super) fn compile_routes(docs: &[RouteDoc], errs: &mut ConfigErrors) -> Vec<Route> {
    if docs.is_empty() {
        errs.push("routes", "at least one route is needed, or the policy guards nothing");
    }
    let mut ids = HashSet::new();
    let mut routes = Vec::with_capacity(docs.len());
    for (i, doc) in docs.iter().enumerate() {
        let at = format!("routes[{i}]");
        check_id(&doc.id, &format!("{at}.id"), errs);
        if !ids.insert(doc.id.as_str()) {
            errs.push(format!("{at}.id"), format!("duplicate route id {:?}", doc.id));
        }
        let conditions = match (&doc.matcher, doc.extract.preset) {
            (Some(m), _) => vec![compile_match(m, &format!("{at}.match"), errs)],
            (None, Some(preset)) => preset
                .default_match(doc.kind)
                .iter()
                .map(|m| compile_match(m, &format!("{at}.extract.preset"), errs))
                .collect(),
            (None, None) => {
                errs.push(
                    format!("{at}.match"),
                    "a route without a preset needs a match (use {} for any request)",
                );
                continue;
            }
        };
        for (j, status) in doc.success_status.iter().enumerate() {
            if !(100..=599).contains(status) {
                errs.push(format!("{at}.success_status[{j}]"), format!("{status} is not an HTTP status"));
            }
        }
        if doc.kind == RouteKind::Send && !doc.success_status.is_empty() {
            errs.push(format!("{at}.success_status"), "only confirm routes have success statuses");
        }
        if doc.kind == RouteKind::Send
            && (doc.success_header.is_some()
                || doc.success_json.is_some()
                || doc.confirmed_number_field.is_some())
        {
            errs.push(
                at.clone(),
                "only confirm routes have success_header, success_json or confirmed_number_field",
            );
        }
        let success_header = doc.success_header.as_ref().map(|h| {
            if h.name.is_empty() || h.name.contains([':', ' ']) {
                errs.push(format!("{at}.success_header.name"), format!("{:?} is not a header name", h.name));
            }
            (h.name.to_ascii_lowercase(), h.equals.clone())
        });
        // Twilio Verify answers 200 to a wrong code, with "status": "pending": a confirm route
        // reading it judges success from the body unless told otherwise.
        let twilio_default = (doc.kind == RouteKind::Confirm
            && doc.extract.preset == Some(crate::extract::Preset::TwilioVerify)
            && doc.success_json.is_none()
            && doc.success_header.is_none())
        .then(|| SuccessJsonDoc { field: "status".to_owned(), equals: vec!["approved".to_owned()] });
        let success_json = doc.success_json.as_ref().or(twilio_default.as_ref()).map(|j| {
            let path: Vec<String> = j.field.split('.').map(str::to_owned).collect();
            if path.iter().any(String::is_empty) {
                errs.push(
                    format!("{at}.success_json.field"),
                    "a dotted path of non-empty keys, e.g. \"status\"",
                );
            }
            if j.equals.is_empty() {
                errs.push(format!("{at}.success_json.equals"), "list at least one value");
            }
            (path, j.equals.clone())
        });
        // Firebase confirms by session and Twilio Verify may by verification sid: neither request
        // need name the number, and both answers do.
        let preset_number_field = match (doc.kind, doc.extract.preset) {
            (RouteKind::Confirm, Some(crate::extract::Preset::Firebase)) => Some("phoneNumber"),
            (RouteKind::Confirm, Some(crate::extract::Preset::TwilioVerify)) => Some("to"),
            _ => None,
        };
        let number_field = doc.confirmed_number_field.as_deref().or(preset_number_field).map(|field| {
            let path: Vec<String> = field.split('.').map(str::to_owned).collect();
            if path.iter().any(String::is_empty) {
                errs.push(
                    format!("{at}.confirmed_number_field"),
                    "a dotted path of non-empty keys, e.g. \"phoneNumber\"",
                );
            }
            path
        });
        let extractor = doc.extract.compile(&format!("{at}.extract"), errs);
        // Calls of the preset's API the engine tells apart (password sign-ins, code answers).
        let preset_calls = |calls: fn(Preset) -> Vec<MatchDoc>, errs: &mut ConfigErrors| -> Vec<Conditions> {
            let docs = doc.extract.preset.map(calls).unwrap_or_default();
            docs.iter().map(|m| compile_match(m, &format!("{at}.extract.preset"), errs)).collect()
        };
        if let Some(extractor) = extractor {
            routes.push(Route {
                id: Arc::from(doc.id.as_str()),
                kind: doc.kind,
                conditions,
                refusal: doc
                    .refusal
                    .or_else(|| doc.extract.preset.map(|p| p.refusal_format()))
                    .unwrap_or_default(),
                extractor,
                sends_by_account: doc.extract.sends_by_account(),
                preset: doc.extract.preset,
                password_sign_ins: preset_calls(Preset::password_sign_ins, errs),
                sign_in_code_answers: preset_calls(Preset::sign_in_code_answers, errs),
                sms_mfa_choices: preset_calls(Preset::sms_mfa_choices, errs),
                sends_only_to_carried_number: preset_calls(Preset::sends_only_to_carried_number, errs),
                numbers_naming_the_account: preset_calls(Preset::numbers_naming_the_account, errs),
                challenge_hint: None,
                success: ConfirmSuccess {
                    statuses: doc.success_status.clone(),
                    header: success_header,
                    json: success_json,
                    number: number_field,
                },
            });
        }
    }
    routes
}

fn compile_match(m: &MatchDoc, at: &str, errs: &mut ConfigErrors) -> Conditions {
    let mut hosts = Vec::new();
    for (j, host) in m.hosts.iter().enumerate() {
        let host = host.to_ascii_lowercase();
        if host.is_empty() || host.contains(['/', ' ', ':']) {
            errs.push(
                format!("{at}.hosts[{j}]"),
                format!("{host:?} is not a host name (no scheme, port or path)"),
            );
        } else if let Some(suffix) = host.strip_prefix("*.") {
            hosts.push(HostPattern::Suffix(format!(".{suffix}")));
        } else if host.contains('*') {
            errs.push(format!("{at}.hosts[{j}]"), "a wildcard is only allowed as a leading \"*.\"");
        } else {
            hosts.push(HostPattern::Exact(host));
        }
    }
    let mut methods = Vec::new();
    for (j, method) in m.methods.iter().enumerate() {
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            errs.push(format!("{at}.methods[{j}]"), format!("{method:?} is not an HTTP method"));
        }
        methods.push(method.to_ascii_uppercase());
    }
    let mut paths = Vec::new();
    match &m.path {
        None => {}
        Some(PathMatchDoc::AnyOf(list)) => {
            if list.is_empty() {
                errs.push(format!("{at}.path.any_of"), "list at least one path condition");
            }
            for (j, p) in list.iter().enumerate() {
                compile_path_match(p, &format!("{at}.path.any_of[{j}]"), &mut paths, errs);
            }
        }
        Some(p) => compile_path_match(p, &format!("{at}.path"), &mut paths, errs),
    }
    let mut headers = Vec::new();
    for (j, h) in m.headers.iter().enumerate() {
        let name = h.name.to_ascii_lowercase();
        if name.is_empty() || name.contains([':', ' ']) {
            errs.push(format!("{at}.headers[{j}].name"), format!("{:?} is not a header name", h.name));
        }
        headers.push(match (&h.equals, &h.prefix, &h.any_of) {
            (None, None, None) => HeaderCondition::Present(name),
            (Some(v), None, None) => HeaderCondition::Equals(name, v.clone()),
            (None, Some(p), None) => HeaderCondition::Prefix(name, p.clone()),
            (None, None, Some(values)) => {
                if values.is_empty() {
                    errs.push(format!("{at}.headers[{j}].any_of"), "list at least one value");
                }
                HeaderCondition::AnyOf(name, values.clone())
            }
            _ => {
                errs.push(format!("{at}.headers[{j}]"), "set only one of equals, prefix and any_of");
                HeaderCondition::Present(name)
            }
        });
    }
    let mut params = Vec::new();
    for (j, p) in m.params.iter().enumerate() {
        if p.name.is_empty() {
            errs.push(format!("{at}.params[{j}].name"), "empty parameter name");
        }
        if p.any_of.is_empty() {
            errs.push(format!("{at}.params[{j}].any_of"), "list at least one value");
        }
        params.push(ParamCondition { name: p.name.clone(), values: p.any_of.clone() });
    }
    let mut json = Vec::new();
    for (j, c) in m.json.iter().enumerate() {
        let path: Vec<String> = c.field.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            errs.push(
                format!("{at}.json[{j}].field"),
                "a dotted path of non-empty keys, e.g. \"ChallengeName\"",
            );
        }
        let (values, negated) = match (c.any_of.is_empty(), c.none_of.is_empty()) {
            (false, true) => (c.any_of.clone(), false),
            (true, false) => (c.none_of.clone(), true),
            (true, true) => {
                errs.push(format!("{at}.json[{j}].any_of"), "list at least one value (or set none_of)");
                (Vec::new(), false)
            }
            (false, false) => {
                errs.push(format!("{at}.json[{j}].none_of"), "set any_of or none_of, not both");
                (Vec::new(), false)
            }
        };
        json.push(JsonCondition { path, values, negated });
    }
    Conditions { hosts, methods, paths, headers, params, json }
}

fn compile_path_match(doc: &PathMatchDoc, at: &str, out: &mut Vec<PathPattern>, errs: &mut ConfigErrors) {
    let p = match doc {
        PathMatchDoc::Exact(p) | PathMatchDoc::Prefix(p) | PathMatchDoc::Pattern(p) => p,
        PathMatchDoc::AnyOf(_) => {
            errs.push(at, "any_of cannot nest");
            return;
        }
    };
    if !p.starts_with('/') {
        errs.push(at, format!("{p:?} must start with '/'"));
        return;
    }
    match doc {
        PathMatchDoc::Exact(p) => out.push(PathPattern::Exact(crate::routes::normalize_path(p))),
        PathMatchDoc::Prefix(p) => {
            // A prefix keeps its trailing slash meaning: "/api/" must not match "/apix".
            let mut norm = crate::routes::normalize_path(p);
            if p.ends_with('/') && norm != "/" {
                norm.push('/');
            }
            out.push(PathPattern::Prefix(norm));
        }
        _ => {
            let norm = crate::routes::normalize_path(p);
            let mut segments = Vec::new();
            for segment in norm.split('/').skip(1).filter(|s| !s.is_empty()) {
                if segment == "*" {
                    segments.push(None);
                } else if segment.contains('*') {
                    errs.push(
                        at,
                        format!("{p:?}: '*' stands for a whole segment, as in /v2/Services/*/Verifications"),
                    );
                    return;
                } else {
                    segments.push(Some(segment.to_owned()));
                }
            }
            out.push(PathPattern::Segments(segments));
        }
    }
}
