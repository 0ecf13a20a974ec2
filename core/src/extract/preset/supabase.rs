//! Supabase Auth's (GoTrue's) calls: where they are served and what a factor's path names.

use crate::config::{JsonMatchDoc, MatchDoc, PathMatchDoc};
use crate::request::Request;

/// The conditions of one Supabase Auth call (`path` from GoTrue's root), under `/auth/v1/` or at
/// the root, with `json` conditions on its body.
pub(super) fn supabase_call(method: &str, path: &str, json: Vec<JsonMatchDoc>) -> MatchDoc {
    MatchDoc {
        methods: vec![method.to_owned()],
        path: Some(PathMatchDoc::AnyOf(vec![
            PathMatchDoc::Pattern(format!("/auth/v1{path}")),
            PathMatchDoc::Pattern(path.to_owned()),
        ])),
        json,
        ..MatchDoc::default()
    }
}

/// Whether the request's path is Supabase Auth's `call`, under `/auth/v1/` or at the root (a
/// GoTrue served there, matched by the route's own `match`).
pub(super) fn is_supabase_call(req: &Request<'_>, call: &str) -> bool {
    let path = req.path_only().trim_end_matches('/');
    path.strip_suffix(call).is_some_and(|rest| rest.eq_ignore_ascii_case("/auth/v1/") || rest == "/")
}

/// The factor a Supabase path names and what of it is called: `("<factor id>", "challenge")`
/// or `("<factor id>", "verify")`, under `/auth/v1/factors/` or at the root.
pub(super) fn factor_call(path: &str) -> Option<(&str, &str)> {
    let path = path.trim_end_matches('/');
    let lower = |n: usize| path.get(..n).map(str::to_ascii_lowercase);
    let rest = ["/auth/v1/factors/", "/factors/"].iter().find_map(|prefix| {
        (lower(prefix.len()).as_deref() == Some(*prefix)).then(|| path.get(prefix.len()..))
    })??;
    let (id, call) = rest.split_once('/')?;
    (!id.is_empty() && (call.eq_ignore_ascii_case("challenge") || call.eq_ignore_ascii_case("verify")))
        .then_some((id, call))
}
