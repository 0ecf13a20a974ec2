#!/usr/bin/env python3
"""Oracle test of the core's phone classification against PyPI `phonenumbers` (the Python port of
libphonenumber), pinned to the release in core/metadata/VERSION.

Numbers of every region (the non-geographic calling codes included) and every number type: each
type's example number, the example with digits changed, inserted or dropped, random digit
strings of the region's lengths around its example's first digits; international ("+CC...") and,
for geographic regions, national form with the region as default. The core classifies the whole
batch in one process (`cargo run --example classify_numbers`); per number we compare whether it
parses, the E.164 form, the region, the number type and validity, and report mismatches by
category with examples. Exit 1 on any mismatch.

    python tests/metadata/oracle.py --classifier target/debug/examples/classify_numbers [--seed N]
"""

import argparse
import collections
import json
import random
import subprocess
import sys
from pathlib import Path

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberType

ROOT = Path(__file__).resolve().parent.parent.parent
TYPES = [
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
]
DESC_OF = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}
MUTATIONS_PER_EXAMPLE = 6
RANDOM_PER_REGION = 12


def territories():
    """(region or "001", calling code, metadata) for every territory libphonenumber knows."""
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]:
            if region == "001":
                yield region, code, PhoneMetadata.metadata_for_nongeo_region(code)
            else:
                yield region, code, PhoneMetadata.metadata_for_region(region)


def mutate(rng, digits):
    digits = list(digits)
    kind = rng.randrange(4)
    if kind == 0:  # change one digit
        i = rng.randrange(len(digits))
        digits[i] = str(rng.randrange(10))
    elif kind == 1:  # change the tail
        for i in range(max(1, len(digits) - 4), len(digits)):
            digits[i] = str(rng.randrange(10))
    elif kind == 2:  # insert a digit
        digits.insert(rng.randrange(1, len(digits) + 1), str(rng.randrange(10)))
    elif len(digits) > 2:  # drop a digit
        del digits[rng.randrange(1, len(digits))]
    return "".join(digits)


def forms(region, code, meta, national):
    """The inputs for one national significant number: international, and national with the region as default."""
    yield "-", f"+{code}{national}"
    if region != "001":
        prefix = meta.national_prefix or ""
        yield region, prefix + national


def batch(seed):
    rng = random.Random(seed)
    cases = []
    for region, code, meta in territories():
        examples = []
        for kind in TYPES:
            desc = getattr(meta, DESC_OF[kind])
            if desc is not None and desc.example_number:
                examples.append(desc.example_number)
        nationals = list(examples)
        for example in examples:
            nationals.extend(mutate(rng, example) for _ in range(MUTATIONS_PER_EXAMPLE))
        lengths = [n for n in (meta.general_desc.possible_length or ()) if n > 0] or [8]
        for _ in range(RANDOM_PER_REGION):
            length = rng.choice(lengths) + rng.choice([0, 0, 0, -1, 1])
            lead = rng.choice(examples)[: rng.randrange(1, 4)] if examples else ""
            tail = "".join(str(rng.randrange(10)) for _ in range(max(0, length - len(lead))))
            nationals.append(lead + tail)
        for national in nationals:
            for default, text in forms(region, code, meta, national):
                cases.append((region, default, text))
    return cases


def expected(default, text):
    try:
        n = phonenumbers.parse(text, None if default == "-" else default)
    except NumberParseException:
        return {"error": True}
    return {
        "region": phonenumbers.region_code_for_number(n),
        "type": PhoneNumberType.to_string(phonenumbers.number_type(n)).lower(),
        "valid": phonenumbers.is_valid_number(n),
        "e164": phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164),
    }


def compare(ours, theirs):
    """The mismatch category, or None when they agree."""
    if ("error" in ours) != ("error" in theirs):
        return "parse: core " + (ours["error"] if "error" in ours else "parses") + ", phonenumbers " + (
            "refuses" if "error" in theirs else "parses"
        )
    if "error" in ours:
        return None
    for field in ("e164", "region", "type", "valid"):
        if ours[field] != theirs[field]:
            return field
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--classifier", required=True, help="the built classify_numbers example")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--examples", type=int, default=5, help="examples shown per category")
    args = parser.parse_args()

    pinned = (ROOT / "core" / "metadata" / "VERSION").read_text().strip()
    if phonenumbers.__version__ != pinned:
        sys.exit(f"phonenumbers {phonenumbers.__version__} installed, core/metadata is {pinned}: run `just setup-metadata`")

    cases = batch(args.seed)
    stdin = "".join(f"{default}\t{text}\n" for _, default, text in cases)
    run = subprocess.run([args.classifier], input=stdin, capture_output=True, text=True, check=True)
    outputs = [json.loads(line) for line in run.stdout.splitlines()]
    if len(outputs) != len(cases):
        sys.exit(f"classifier answered {len(outputs)} lines for {len(cases)} numbers")

    mismatches = collections.defaultdict(list)
    per_type = collections.Counter()
    valid = 0
    regions = set()
    for (region, default, text), ours in zip(cases, outputs):
        theirs = expected(default, text)
        regions.add(region)
        if theirs.get("valid"):
            valid += 1
            per_type[theirs["type"]] += 1
        category = compare(ours, theirs)
        if category:
            mismatches[category].append((region, default, text, ours, theirs))

    total = sum(len(v) for v in mismatches.values())
    print(
        f"metadata oracle: libphonenumber {pinned}, seed {args.seed}: {len(cases)} numbers of {len(regions)} regions "
        f"({valid} valid: " + ", ".join(f"{t} {c}" for t, c in sorted(per_type.items())) + f"); {total} mismatches"
    )
    for category, items in sorted(mismatches.items(), key=lambda kv: -len(kv[1])):
        print(f"  {category}: {len(items)}")
        for region, default, text, ours, theirs in items[: args.examples]:
            print(f"    {region} default={default} {text!r}: core {json.dumps(ours)} phonenumbers {json.dumps(theirs)}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
