//! Auth0 Authentication API's calls: the passwordless code's exchange and the paths at the
//! domain's root.

use crate::config::{JsonMatchDoc, MatchDoc, ParamMatchDoc, PathMatchDoc};
use crate::request::Request;

/// The grant (and `credential_type`) of Auth0's passwordless code exchange.
pub(super) const AUTH0_PASSWORDLESS_OTP: &str = "http://auth0.com/oauth/grant-type/passwordless/otp";

/// The conditions of one Auth0 call whose body field `field` (JSON, or form-encoded) holds
/// one of `any_of`: two sets, one per body type.
pub(super) fn auth0_call_with(path: &str, field: &str, any_of: &str) -> [MatchDoc; 2] {
    let at = || Some(PathMatchDoc::Pattern(path.to_owned()));
    [
        MatchDoc {
            methods: vec!["POST".to_owned()],
            path: at(),
            json: vec![JsonMatchDoc {
                field: field.to_owned(),
                any_of: vec![any_of.to_owned()],
                none_of: Vec::new(),
            }],
            ..MatchDoc::default()
        },
        MatchDoc {
            methods: vec!["POST".to_owned()],
            path: at(),
            params: vec![ParamMatchDoc { name: field.to_owned(), any_of: vec![any_of.to_owned()] }],
            ..MatchDoc::default()
        },
    ]
}

/// Whether the request's path is Auth0's `call` (a path from the domain's root).
pub(super) fn is_auth0_call(req: &Request<'_>, call: &str) -> bool {
    req.method.eq_ignore_ascii_case("POST")
        && req.path_only().trim_end_matches('/').eq_ignore_ascii_case(call)
}
