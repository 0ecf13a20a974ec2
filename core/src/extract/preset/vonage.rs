//! Vonage Verify v2's calls: what a request's path names.

/// The verification request a Vonage Verify path names and what of it is called: `("<id>",
/// "")` for its code's check, `("<id>", "next_workflow")` for its next step; a template's path
/// names none.
pub(super) fn vonage_request_call(path: &str) -> Option<(&str, &str)> {
    let path = path.trim_end_matches('/');
    let rest = path.get(..11).filter(|head| head.eq_ignore_ascii_case("/v2/verify/")).and(path.get(11..))?;
    let (id, call) = rest.split_once('/').unwrap_or((rest, ""));
    let named = !id.is_empty() && !id.eq_ignore_ascii_case("templates");
    (named && (call.is_empty() || call.eq_ignore_ascii_case("next_workflow"))).then_some((id, call))
}
