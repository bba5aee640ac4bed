#!/usr/bin/env python3
"""Check refuge's CSV exports against HXL (Humanitarian Exchange Language).

Usage: python3 tests/hxl/check.py FILE.csv [FILE.csv ...]

For each file:

1. libhxl (the reference HXL library, PyPI package `libhxl`) must find a
   hashtag row, and every column must carry a hashtag;
2. every hashtag and every attribute must be a standard HXL 1.1 one (the sets
   below); extension hashtags (#x_...) and made-up attributes fail;
3. libhxl's validation with its built-in default schema must report no issue
   of severity "error". Warnings and info are printed but do not fail.

Empty cells are never validated by libhxl, so suppressed (blanked) numbers pass.
A UTF-8 byte-order mark at the start of a file is ignored.

Prints the details, then one summary line per file. Exit status: 0 if every
file passes, 1 if any fails, 2 if libhxl cannot be imported (or no file given).
"""

import csv
import logging
import sys

# The HXL 1.1 core hashtags and attributes, copied by hand from the HXL
# dictionary sources published by HXLStandard:
#   - github.com/HXLStandard/gen-hxl-dict, docs/hxl-hashtags-and-attributes.html
#     (the generated "HXL hashtags and attributes" dictionary, 1.1 drafts);
#   - github.com/HXLStandard/hxl-hashtag-chooser, hxl-knowledge-base.json
#     (the HXL hashtag chooser; source of #channel, #frequency, +activity,
#     +programme, +project, +cluster and +id).
# Both are generated from the HXL core schema spreadsheet named in
# gen-hxl-dict's README (also published on HDX as "hxl-core-schemas"); its
# status column decided the edge cases: only entries released in HXL 1.0 or
# 1.1 are kept. Left out on purpose:
#   - #delivery: "Proposed" in the dictionary, later "Rejected";
#   - +ar +en +es +fa +fr +ms +ps +sw +tl +uk +ur and +label: in the 1.0
#     dictionary, deprecated in the core schema;
#   - +conversion: a draft name, released as +converted;
#   - +budget +transfer (released in 1.2), +pct +return +spend (beta),
#     +returnees +tier (proposed): not part of HXL 1.1;
#   - the hashtag chooser's other suggestions (+i_en and other language
#     codes, +v_iso2/+v_iso3/+v_pcodes vocabularies, +funding, +reporting,
#     +camp, +facility, +market, +asylum, +latlon, +elev, +bool, +value,
#     +incoming, +outgoing, +disbursement, +expenditure, +usd, +eur, +gbp):
#     none of them is in the dictionary or the core schema's attribute list.
STANDARD_HASHTAGS = {
    # 1.1 Places
    "#adm1", "#adm2", "#adm3", "#adm4", "#adm5", "#country", "#geo", "#loc",
    "#region",
    # 1.2 People and households (surveys and assessments)
    "#affected", "#beneficiary", "#inneed", "#population", "#reached",
    "#respondee", "#targeted",
    # 1.3 Responses and other operations; cash and finance
    "#access", "#activity", "#capacity", "#channel", "#contact", "#currency",
    "#frequency", "#indicator", "#item", "#modality", "#need", "#operations",
    "#org", "#output", "#sector", "#service", "#subsector", "#value",
    # 1.4 Crises, incidents, and events
    "#cause", "#crisis", "#event", "#group", "#impact", "#severity",
    # 1.5 Metadata
    "#date", "#description", "#meta", "#status",
}

STANDARD_ATTRIBUTES = {
    # 2.1 Sex- and-age disaggregation (SADD)
    "+adolescents", "+adults", "+children", "+elderly", "+f", "+hh", "+i",
    "+ind", "+infants", "+m",
    # 2.2 Organisation and activity
    "+activity", "+cluster", "+funder", "+impl", "+prog", "+programme",
    "+project", "+provided", "+used",
    # 2.3 Classification
    "+code", "+type",
    # 2.4 Geographical
    "+bounds", "+coord", "+dest", "+elevation", "+lat", "+lon", "+origin",
    # 2.5 Date
    "+approved", "+canceled", "+converted", "+end", "+occurred", "+reported",
    "+start",
    # 2.6 Impact
    "+abducted", "+displaced", "+idps", "+incamp", "+infected", "+injured",
    "+killed", "+noncamp", "+refugees",
    # 2.7 General
    "+email", "+id", "+name", "+num", "+phone", "+source", "+text", "+url",
}

# Why some well-known non-standard names fail, for clearer messages.
NOT_STANDARD_BECAUSE = {
    "#delivery": "proposed, then rejected; not in HXL 1.1",
    "+label": "deprecated in the HXL core schema",
    "+conversion": "draft name; HXL 1.1 uses +converted",
    "+budget": "added in HXL 1.2, not in 1.1",
    "+transfer": "added in HXL 1.2, not in 1.1",
    "+pct": "beta (HXL 1.2), not in 1.1",
    "+return": "beta (HXL 1.2), not in 1.1",
    "+spend": "beta (HXL 1.3), not in 1.1",
    "+returnees": "proposed, not in HXL 1.1",
    "+tier": "proposed, not in HXL 1.1",
}
for _language in ("ar", "en", "es", "fa", "fr", "ms", "ps", "sw", "tl", "uk", "ur"):
    NOT_STANDARD_BECAUSE["+" + _language] = "language attribute, deprecated in the HXL core schema"


def why_not(name):
    """The reason a hashtag or attribute is not standard, for messages."""
    if name in NOT_STANDARD_BECAUSE:
        return NOT_STANDARD_BECAUSE[name]
    if name.startswith("#x_"):
        return "extension hashtag, not a standard one"
    return "not in the HXL 1.1 dictionary"


def import_hxl():
    try:
        import hxl  # noqa: F401
        import hxl.input
        import hxl.model
        import hxl.validation
    except ImportError as error:
        print(
            "check.py: cannot import the HXL library ({}).\n"
            "Install it with: python3 -m pip install 'libhxl==5.2.2'".format(error),
            file=sys.stderr,
        )
        sys.exit(2)
    return hxl


def read_raw(hxl, path):
    """The hashtag row as raw strings, found the way libhxl finds it (the
    first of the first 25 rows that parses as hashtags), and the numbers of
    the header and later lines that have non-empty cells beyond the hashtag
    row's width.
    Returns (None, []) if there is no hashtag row or the file is unreadable:
    libhxl's own reading reports that. Used to quote malformed hashtags, which
    libhxl drops from its columns, and to find cells that have no column."""
    tags, too_wide = None, []
    try:
        with open(path, newline="", encoding="utf-8-sig") as source:
            previous = None
            for number, row in enumerate(csv.reader(source)):
                if tags is None:
                    if number >= 25:
                        break
                    if hxl.model.Column.parse_list(row, previous) is not None:
                        tags = row
                        if previous and any(cell.strip() for cell in previous[len(tags):]):
                            too_wide.append(number)  # the header line above
                    previous = row
                elif any(cell.strip() for cell in row[len(tags):]):
                    too_wide.append(number + 1)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None, []
    return tags, too_wide


def open_dataset(hxl, path):
    """A libhxl dataset for a local CSV file; utf-8-sig drops a leading BOM."""
    options = hxl.input.InputOptions(allow_local=True, encoding="utf-8-sig")
    return hxl.data(path, options)


def describe_column(column):
    number = column.column_number + 1 if column.column_number is not None else "?"
    if column.header:
        return "column {} ({!r})".format(number, column.header)
    return "column {}".format(number)


def check_columns(columns, raw_tags, problems):
    """Every column has a hashtag; every hashtag and attribute is standard."""
    if not any(column.tag for column in columns):
        problems.append("no column has a hashtag")
    for column in columns:
        where = describe_column(column)
        if not column.tag:
            raw = None
            if raw_tags is not None and column.column_number is not None \
                    and column.column_number < len(raw_tags):
                raw = raw_tags[column.column_number].strip()
            if raw:
                problems.append("{}: malformed hashtag {!r}".format(where, raw))
            else:
                problems.append("{} has no hashtag".format(where))
            continue
        if column.tag not in STANDARD_HASHTAGS:
            problems.append("{}: hashtag {} is not standard ({})".format(
                where, column.tag, why_not(column.tag)))
        for attribute in column.attribute_list:
            name = "+" + attribute
            if name not in STANDARD_ATTRIBUTES:
                problems.append("{}: attribute {} of {} is not standard ({})".format(
                    where, name, column.display_tag, why_not(name)))


def describe_issue(issue):
    """One line for a libhxl HXLValidationException."""
    parts = []
    if issue.row is not None and issue.row.source_row_number is not None:
        parts.append("line {}".format(issue.row.source_row_number + 1))
    if issue.column is not None:
        parts.append(describe_column(issue.column))
        if issue.column.display_tag:
            parts.append(issue.column.display_tag)
    elif issue.rule is not None and issue.rule.tag_pattern is not None:
        parts.append(str(issue.rule.tag_pattern))
    if issue.value is not None and issue.value != "":
        parts.append("value {!r}".format(issue.value))
    text = issue.message or ""
    if issue.rule is not None and issue.rule.description:
        text = "{} ({})".format(issue.rule.description, text) if text else issue.rule.description
    if issue.suggested_value is not None:
        text += "; suggested {!r}".format(issue.suggested_value)
    if issue.is_external:
        text += " [external]"
    return "{}: {}".format(", ".join(parts) or "dataset", text)


def check_file(hxl, path):
    """Check one file; print its details and summary; return True if it passes."""
    problems = []  # standard-tag and structure failures
    issues = {"error": [], "warning": [], "info": []}
    column_count = 0

    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        print("{}: FAIL: cannot read the file: {}".format(path, error))
        return False

    # Structure and vocabulary, from libhxl's own reading of the hashtag row.
    try:
        columns = open_dataset(hxl, path).columns
    except hxl.input.HXLTagsNotFoundException:
        print("{}: FAIL: not HXL: libhxl found no hashtag row in the first 25 rows".format(path))
        return False
    except Exception as error:  # malformed CSV, unreadable encoding, ...
        print("{}: FAIL: libhxl could not read the file: {}".format(path, error))
        return False
    column_count = len(columns)
    raw_tags, too_wide = read_raw(hxl, path)
    check_columns(columns, raw_tags, problems)
    if too_wide:
        problems.append("{} line(s) have values beyond the last hashtagged column "
                        "(first: line {})".format(len(too_wide), too_wide[0]))

    # libhxl's validation against its built-in default schema.
    def collect(issue):
        severity = issue.rule.severity if issue.rule is not None else "error"
        # External issues mean the validation itself could not be completed.
        if issue.is_external:
            severity = "error"
        issues.setdefault(severity, []).append(issue)

    try:
        schema = hxl.validation.schema(None, callback=collect)
        schema.validate(open_dataset(hxl, path))
    except Exception as error:
        problems.append("libhxl validation failed to run: {}: {}".format(
            type(error).__name__, error))

    for problem in problems:
        print("  {}: {}".format(path, problem))
    for severity in ("error", "warning", "info"):
        for issue in issues.get(severity, []):
            print("  {}: {}: {}".format(path, severity, describe_issue(issue)))

    errors = len(issues.get("error", []))
    passed = not problems and errors == 0
    print("{}: {}: {} columns; libhxl: {} error(s), {} warning(s), {} info; "
          "{} non-standard or structural problem(s)".format(
              path, "OK" if passed else "FAIL", column_count, errors,
              len(issues.get("warning", [])), len(issues.get("info", [])),
              len(problems)))
    return passed


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    hxl = import_hxl()
    # libhxl logs malformed hashtags itself; this script reports them instead.
    logging.getLogger("hxl").setLevel(logging.CRITICAL)
    failed = [path for path in argv if not check_file(hxl, path)]
    if len(argv) > 1:
        print("{} file(s) checked, {} failed".format(len(argv), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
