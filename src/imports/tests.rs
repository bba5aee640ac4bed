//! Unit tests of reading and validating import files.

use chrono_tz::Tz;
use uuid::Uuid;

use super::errors::*;
use super::layout::*;
use super::reader::*;
use super::validation::*;
use crate::error::RowError;

fn check(text: &str) -> (Option<Vec<Row>>, Vec<RowError>) {
    let mut errors = Errors::default();
    let rows = Households::open(text.as_bytes(), &mut errors)
        .unwrap()
        .map(|mut file| {
            let mut rows = Vec::new();
            while let Some(group) = file.next_group(&mut errors).unwrap() {
                rows.extend(group.rows);
            }
            rows
        });
    (rows, errors.report(0).errors)
}

#[test]
fn the_template_has_every_column_in_order() {
    let (rows, errors) = check(TEMPLATE);
    assert!(errors.is_empty(), "{errors:?}");
    let rows = rows.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].line, 3);
    assert_eq!(rows[0].cell(col::GIVEN_NAME), "Արամ");
    assert_eq!(
        TEMPLATE
            .lines()
            .next()
            .unwrap()
            .split(',')
            .collect::<Vec<_>>(),
        COLUMNS
    );
}

#[test]
fn header_problems_are_each_reported_on_line_1() {
    let (rows, errors) = check("household_ref,Sex,given_name,given_name\n");
    assert!(rows.is_none());
    let found: Vec<(u64, Option<&str>, &str)> = errors
        .iter()
        .map(|e| (e.line, e.column.as_deref(), e.code.as_str()))
        .collect();
    assert!(found.contains(&(1, Some("Sex"), "unknown_column")));
    assert!(found.contains(&(1, Some("given_name"), "duplicate_column")));
    for missing in [
        "center_code",
        "arrived_at",
        "origin_settlement",
        "family_name",
        "sex",
        "relationship",
    ] {
        assert!(
            found.contains(&(1, Some(missing), "missing_column")),
            "{missing}"
        );
    }
}

#[test]
fn a_bom_and_blank_lines_are_skipped_and_lines_stay_physical() {
    let header = COLUMNS.join(",");
    let empty = ",".repeat(COLUMNS.len() - 1);
    let rest = ",".repeat(COLUMNS.len() - 2);
    let text = format!("\u{feff}{header}\n\n{empty}\nA,\"x\ny\"{rest}\nB{empty}\n");
    let (rows, errors) = check(&text);
    assert!(errors.is_empty(), "{errors:?}");
    let rows = rows.unwrap();
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [4, 6]);
    assert_eq!(rows[0].cell(col::CENTER_CODE), "x\ny");
}

#[test]
fn lines_are_physical_with_crlf_blank_lines_and_multi_line_fields() {
    let header = COLUMNS.join(",");
    let row = |r: &str| format!("{r}{}", ",".repeat(COLUMNS.len() - 1));
    for newline in ["\n", "\r\n"] {
        let text = format!(
            "{newline}{header}{newline}{a}{newline}{newline}{newline}\"B{newline}{newline}b\"{rest}{newline}{c}{newline}{newline}{d}",
            a = row("A"),
            rest = ",".repeat(COLUMNS.len() - 1),
            c = row("C"),
            d = row("D"),
        );
        let (rows, errors) = check(&text);
        assert!(errors.is_empty(), "{errors:?}");
        let lines: Vec<u64> = rows.unwrap().iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 6, 9, 11], "{newline:?}");
    }
}

#[test]
fn local_arrival_times_are_read_in_the_centers_timezone() {
    let yerevan: Tz = "Asia/Yerevan".parse().unwrap();
    for text in [
        "2023-09-26 14:30",
        "2023-09-26T14:30:00",
        "2023-09-26T14:30:00+04:00",
    ] {
        let at = parse_arrival(text, yerevan).unwrap();
        assert_eq!(at.to_rfc3339(), "2023-09-26T14:30:00+04:00", "{text}");
    }
    assert!(parse_arrival("26.09.2023 14:30", yerevan).is_err());
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    assert!(parse_arrival("2023-10-29 02:30", berlin)
        .unwrap_err()
        .contains("twice"));
    assert!(parse_arrival("2023-03-26 02:30", berlin)
        .unwrap_err()
        .contains("did not happen"));
}

#[test]
fn ids_are_deterministic() {
    let center = Uuid::from_u128(1);
    assert_eq!(household_id(center, "17"), household_id(center, "17"));
    assert_ne!(
        household_id(center, "17"),
        household_id(Uuid::from_u128(2), "17")
    );
    let id = household_id(center, "17");
    assert_ne!(member_id(id, 0), member_id(id, 1));
}

#[test]
fn only_the_first_errors_by_line_are_kept() {
    let mut errors = Errors::default();
    for line in (2..5000u64).rev() {
        errors.push(line, None, "x", "y");
    }
    let report = errors.report(4998);
    assert_eq!(report.error_count, 4998);
    assert_eq!(report.errors.len(), MAX_LISTED_ERRORS);
    assert_eq!(report.errors[0].line, 2);
    assert_eq!(report.errors.last().unwrap().line, 1001);
}
