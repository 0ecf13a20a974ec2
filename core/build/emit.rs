//! Turns the metadata into automata and writes them out as Rust `static` tables.

use crate::classifier::Classifier;
use crate::matcher::Matchers;
use crate::metadata::{Territory, TYPE_NAMES};
use crate::{pattern, program};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Output byte of a classifier state: low nibble is the number type code (0 = unknown, else
/// 1 + index in `TYPE_CODE_ORDER`), `GENERAL_PATTERN_BIT` says the general pattern matched
/// (ignoring lengths, as libphonenumber's viability checks do).
const GENERAL_PATTERN_BIT: u8 = 0x10;
const LEADING_DIGITS_BIT: u8 = 0x20;
/// Must match `NumberType::ALL` order in src/phone/mod.rs.
const TYPE_CODE_ORDER: [&str; 11] = [
    "fixed_line",
    "mobile",
    "fixed_line_or_mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
];

pub struct Generated {
    pub source: String,
    pub table_bytes: usize,
}

fn type_code(name: &str) -> u8 {
    1 + TYPE_CODE_ORDER.iter().position(|n| *n == name).expect("known type") as u8
}

fn compile(source: &str) -> program::Program {
    program::compile(&pattern::parse(source))
}

fn length_mask(lengths: &[u16], what: &str) -> u32 {
    lengths.iter().fold(0u32, |mask, &l| {
        assert!(l < 32, "{what}: possible length {l} too large");
        mask | 1 << l
    })
}

/// libphonenumber's getNumberTypeHelper, evaluated once per classifier state.
fn number_type_output(t: &Territory, mask: u32, depth: usize) -> u8 {
    let length_ok = |lengths: &[u16]| lengths.is_empty() || lengths.contains(&(depth as u16));
    let general_pattern = mask & 1 != 0;
    let matches =
        |i: usize| mask & (1 << (i + 1)) != 0 && t.types[i].as_ref().is_some_and(|d| length_ok(&d.lengths));
    let index = |name: &str| TYPE_NAMES.iter().position(|n| *n == name).expect("type name");
    let general = general_pattern && length_ok(&t.general_lengths);
    let kind = if !general {
        0
    } else if let Some(name) =
        ["premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail"]
            .into_iter()
            .find(|name| matches(index(name)))
    {
        type_code(name)
    } else if matches(index("fixed_line")) {
        if t.same_mobile_and_fixed_pattern || matches(index("mobile")) {
            type_code("fixed_line_or_mobile")
        } else {
            type_code("fixed_line")
        }
    } else if !t.same_mobile_and_fixed_pattern && matches(index("mobile")) {
        type_code("mobile")
    } else {
        0
    };
    kind | if general_pattern { GENERAL_PATTERN_BIT } else { 0 }
}

/// `268$1` → literal digits as ASCII, group references as the bytes 1 and 2.
fn transform_bytes(rule: &str, groups: usize, id: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = rule.chars();
    while let Some(c) = chars.next() {
        match c {
            '0'..='9' => out.push(c as u8),
            '$' => match chars.next().and_then(|g| g.to_digit(10)) {
                Some(g @ 1..=2) if g as usize <= groups => out.push(g as u8),
                _ => panic!("{id}: unsupported transform rule {rule:?}"),
            },
            _ => panic!("{id}: unsupported transform rule {rule:?}"),
        }
    }
    out
}

fn array<T: std::fmt::Display>(out: &mut String, decl: &str, ty: &str, items: &[T]) {
    writeln!(out, "pub(super) static {decl}: [{ty}; {}] = [", items.len()).ok();
    for chunk in items.chunks(24) {
        let line: Vec<String> = chunk.iter().map(|x| x.to_string()).collect();
        writeln!(out, "    {},", line.join(", ")).ok();
    }
    writeln!(out, "];").ok();
}

pub fn generate(territories: &[Territory]) -> Generated {
    let mut classifier = Classifier::new(LEADING_DIGITS_BIT);
    let mut matchers = Matchers::new();
    let region_codes: BTreeSet<&str> = territories.iter().map(|t| t.id.as_str()).collect();
    let region_codes: Vec<&str> = region_codes.into_iter().collect();
    let region_index = |id: &str| region_codes.iter().position(|r| *r == id).expect("region");

    let mut rows = String::new();
    let mut territory_bytes = 0;
    for t in territories {
        let id = format!("{} (+{})", t.id, t.calling_code);
        let general = compile(&t.general.pattern);
        let types: Vec<Option<program::Program>> =
            t.types.iter().map(|d| d.as_ref().map(|d| compile(&d.pattern))).collect();
        // Absent types get a program that never matches, keeping bit positions fixed.
        let never = program::Program { insts: vec![program::Inst::Digits(0, 0)], groups: 0 };
        let mut programs: Vec<&program::Program> = vec![&general];
        programs.extend(types.iter().map(|p| p.as_ref().unwrap_or(&never)));
        let number_type =
            classifier.add_full_match(&programs, |mask, depth| number_type_output(t, mask, depth));
        let leading_digits = t.leading_digits.as_ref().map(|p| classifier.add_prefix_match(&[&compile(p)]));
        let international_prefix =
            t.international_prefix.as_ref().map(|p| matchers.add(&compile(p), &format!("{id} idd")));
        let (national_prefix, groups) = match &t.national_prefix_for_parsing {
            Some(p) => {
                let program = compile(p);
                (Some(matchers.add(&program, &format!("{id} npfp"))), program.groups)
            }
            None => (None, 0),
        };
        let transform = t.national_prefix_transform_rule.as_ref().map(|r| transform_bytes(r, groups, &id));
        let opt = |x: Option<u32>| x.map_or("None".to_owned(), |v| format!("Some({v})"));
        writeln!(
            rows,
            "    Territory {{ calling_code: {}, region: Region({}), number_type: {}, leading_digits: {}, \
             international_prefix: {}, national_prefix: {}, national_prefix_groups: {}, transform: {}, \
             possible_lengths: {:#x}, local_only_lengths: {:#x} }}, // {}",
            t.calling_code,
            region_index(&t.id),
            number_type,
            opt(leading_digits),
            opt(international_prefix),
            opt(national_prefix),
            groups,
            transform.as_ref().map_or("None".to_owned(), |b| format!("Some(&{b:?})")),
            length_mask(&t.general_lengths, &id),
            length_mask(&t.general_local_lengths, &id),
            t.id,
        )
        .ok();
        territory_bytes += transform.map_or(0, |b| b.len());
    }

    let classifier_states = classifier.transitions.len();
    let matcher_states = matchers.transitions.len();
    assert!(classifier_states <= u16::MAX as usize + 1, "classifier state ids must fit u16");
    assert!(matcher_states <= u16::MAX as usize + 1, "matcher state ids must fit u16");
    assert!(matchers.outcomes.len() <= 256, "matcher outcome ids must fit u8");

    let mut source = String::new();
    writeln!(
        source,
        "// @generated by build.rs from the libphonenumber metadata of the `phonenumber` crate.\n"
    )
    .ok();
    let flat: Vec<u32> = classifier.transitions.iter().flatten().copied().collect();
    array(&mut source, "CLASSIFIER_TRANSITIONS", "u16", &flat);
    array(&mut source, "CLASSIFIER_OUTPUTS", "u8", &classifier.outputs);
    let flat: Vec<u32> = matchers.transitions.iter().flatten().copied().collect();
    array(&mut source, "MATCHER_TRANSITIONS", "u16", &flat);
    array(&mut source, "MATCHER_OUTCOME_OF_STATE", "u8", &matchers.outcome_of_state);
    let outcomes: Vec<String> = matchers.outcomes.iter().map(|o| format!("{o:?}")).collect();
    array(&mut source, "MATCHER_OUTCOMES", "[u8; 5]", &outcomes);

    writeln!(source, "pub(super) static TERRITORIES: [Territory; {}] = [\n{rows}];", territories.len()).ok();
    let quoted: Vec<String> = region_codes.iter().map(|r| format!("{r:?}")).collect();
    array(&mut source, "REGION_CODES", "&str", &quoted);
    // Per region: its territory (the first one for "001", which has several).
    let region_territory: Vec<usize> = region_codes
        .iter()
        .map(|r| territories.iter().position(|t| t.id == *r).expect("territory"))
        .collect();
    array(&mut source, "REGION_TERRITORY", "u8", &region_territory);
    let regions: Vec<String> =
        territories.iter().map(|t| format!("Region({})", region_index(&t.id))).collect();
    array(&mut source, "TERRITORY_REGIONS", "Region", &regions);
    // Calling code → first territory | count << 8 (0 = unassigned).
    let mut by_code = vec![0u16; 1000];
    for (i, t) in territories.iter().enumerate() {
        let slot = &mut by_code[t.calling_code as usize];
        if *slot == 0 {
            *slot = i as u16 | 1 << 8;
        } else {
            *slot += 1 << 8;
        }
    }
    assert!(territories.len() < 256, "territory index must fit u8");
    array(&mut source, "CALLING_CODE_TERRITORIES", "u16", &by_code);

    let table_bytes = classifier_states * (10 * 2 + 1)
        + matcher_states * (11 * 2 + 1)
        + matchers.outcomes.len() * 5
        + territories.len() * 64
        + territory_bytes
        + region_codes.len() * (16 + 3 + 1)
        + territories.len() * 2
        + by_code.len() * 2;
    writeln!(
        source,
        "\n// classifier states: {classifier_states}, matcher states: {matcher_states}, outcomes: {}, \
         approx table bytes: {table_bytes}",
        matchers.outcomes.len()
    )
    .ok();
    Generated { source, table_bytes }
}
