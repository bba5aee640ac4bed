//! The CSV every report is written as: RFC 4180 (CRLF line ends, quotes only
//! where needed) through the csv crate, UTF-8 with an optional byte-order
//! mark for Excel, an optional HXL hashtag row under the header, a chosen
//! subset and order of columns, and text cells that a spreadsheet cannot run
//! as formulas.

use std::io::Write;

use crate::error::ApiError;

/// A report column: its header name (a stable contract for the agencies'
/// scripts) and its HXL hashtag with attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub hxl: &'static str,
}

/// Shorthand for the column tables of the reports.
pub const fn column(name: &'static str, hxl: &'static str) -> Column {
    Column { name, hxl }
}

/// How a report is rendered, apart from its rows.
#[derive(Debug, Clone, Default)]
pub struct Format {
    /// Start with a UTF-8 byte-order mark, so that Excel reads the file as UTF-8.
    pub bom: bool,
    /// Add the HXL hashtag row under the header.
    pub hxl: bool,
    /// The columns to write, by name, in this order; all of them when `None`.
    pub columns: Option<Vec<String>>,
}

impl Format {
    /// Parses a comma-separated column list against the report's columns,
    /// naming every unknown column.
    pub fn select(list: &str, columns: &[Column]) -> Result<Vec<String>, ApiError> {
        let wanted: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        let unknown: Vec<&str> = wanted
            .iter()
            .filter(|w| !columns.iter().any(|c| c.name == w.as_str()))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let known: Vec<&str> = columns.iter().map(|c| c.name).collect();
            return Err(ApiError::bad_parameter(
                "columns",
                format!(
                    "unknown column(s) {}; this report has {}",
                    unknown.join(", "),
                    known.join(", ")
                ),
            ));
        }
        if wanted.is_empty() {
            return Err(ApiError::bad_parameter(
                "columns",
                "name at least one column",
            ));
        }
        for (i, w) in wanted.iter().enumerate() {
            if wanted[..i].contains(w) {
                return Err(ApiError::bad_parameter(
                    "columns",
                    format!("column {w} is named twice"),
                ));
            }
        }
        Ok(wanted)
    }
}

/// Characters that make a spreadsheet treat a cell as a formula (or, for tab
/// and carriage return, that some spreadsheets strip before looking for one).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Writes a report's rows. Every row gives every column of the report, in the
/// report's order; the writer keeps the selected ones in the selected order.
pub struct Csv<W: Write> {
    out: csv::Writer<W>,
    /// For each report column, its position in the output, if selected.
    slot: Vec<Option<usize>>,
    /// The current row's selected fields, by output position.
    row: Vec<Vec<u8>>,
    /// The report column the next value is for.
    next: usize,
    rows: u64,
    numbers: itoa::Buffer,
    /// The households and persons whose records the report listed, for
    /// the audit trail.
    touched: Touched,
    /// Where its rows are counted in the metrics, as they are written.
    metric: Option<crate::metrics::ExportRun>,
}

/// The households and persons a person-level report listed.
#[derive(Debug, Default)]
pub struct Touched {
    pub households: Vec<String>,
    pub persons: Vec<String>,
}

impl<W: Write> Csv<W> {
    /// Writes the byte-order mark, header and hashtag row as `format` asks.
    pub fn start(mut out: W, columns: &[Column], format: &Format) -> Result<Csv<W>, ApiError> {
        if format.bom {
            out.write_all("\u{feff}".as_bytes()).map_err(write_failed)?;
        }
        let order: Vec<usize> = match &format.columns {
            Some(names) => names
                .iter()
                .map(|n| {
                    columns
                        .iter()
                        .position(|c| c.name == n.as_str())
                        .ok_or_else(|| {
                            ApiError::bad_parameter("columns", format!("unknown column {n}"))
                        })
                })
                .collect::<Result<_, _>>()?,
            None => (0..columns.len()).collect(),
        };
        let mut slot = vec![None; columns.len()];
        for (position, &column) in order.iter().enumerate() {
            slot[column] = Some(position);
        }
        let mut csv = Csv {
            out: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .buffer_capacity(64 * 1024)
                .from_writer(out),
            slot,
            row: vec![Vec::new(); order.len()],
            next: 0,
            rows: 0,
            numbers: itoa::Buffer::new(),
            touched: Touched::default(),
            metric: None,
        };
        csv.out
            .write_record(order.iter().map(|&i| columns[i].name))
            .map_err(write_failed)?;
        if format.hxl {
            csv.out
                .write_record(order.iter().map(|&i| columns[i].hxl))
                .map_err(write_failed)?;
        }
        Ok(csv)
    }

    fn put(&mut self, value: &[u8]) {
        if let Some(Some(position)) = self.slot.get(self.next) {
            let field = &mut self.row[*position];
            field.clear();
            field.extend_from_slice(value);
        }
        self.next += 1;
    }

    /// A text value; one that a spreadsheet would run as a formula is
    /// prefixed with an apostrophe, which spreadsheets show as text.
    pub fn text(&mut self, value: &str) {
        if value.starts_with(FORMULA_STARTS) {
            let mut safe = Vec::with_capacity(value.len() + 1);
            safe.push(b'\'');
            safe.extend_from_slice(value.as_bytes());
            self.put(&safe);
        } else {
            self.put(value.as_bytes());
        }
    }

    /// An optional text value; empty when absent.
    pub fn opt_text(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.text(value),
            None => self.empty(),
        }
    }

    /// An integer (never taken for a formula: a negative count is a number).
    pub fn int(&mut self, value: i64) {
        let mut buffer = std::mem::take(&mut self.numbers);
        self.put(buffer.format(value).as_bytes());
        self.numbers = buffer;
    }

    /// An optional integer; empty when absent.
    pub fn opt_int(&mut self, value: Option<i64>) {
        match value {
            Some(value) => self.int(value),
            None => self.empty(),
        }
    }

    /// A decimal number, written the shortest way that reads back exactly.
    pub fn float(&mut self, value: f64) {
        self.put(value.to_string().as_bytes());
    }

    /// A calendar date, `YYYY-MM-DD`.
    pub fn date(&mut self, value: chrono::NaiveDate) {
        self.put(value.format("%Y-%m-%d").to_string().as_bytes());
    }

    /// An instant stored in UTC, as RFC 3339 with `Z`.
    pub fn instant(&mut self, value: chrono::NaiveDateTime) {
        self.put(
            value
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                .as_bytes(),
        );
    }

    /// An optional instant; empty when absent.
    pub fn opt_instant(&mut self, value: Option<chrono::NaiveDateTime>) {
        match value {
            Some(value) => self.instant(value),
            None => self.empty(),
        }
    }

    /// An empty cell.
    pub fn empty(&mut self) {
        self.put(b"");
    }

    /// Ends the row: it must have had a value for every report column.
    pub fn end_row(&mut self) -> Result<(), ApiError> {
        if self.next != self.slot.len() {
            return Err(ApiError::internal(format!(
                "a report row has {} values for {} columns",
                self.next,
                self.slot.len()
            )));
        }
        self.next = 0;
        self.rows += 1;
        if let Some(metric) = &self.metric {
            metric.row();
        }
        self.out.write_record(&self.row).map_err(write_failed)
    }

    /// Counts this export as running, and its rows, in the metrics.
    pub fn count_in(&mut self, metric: crate::metrics::ExportRun) {
        self.metric = Some(metric);
    }

    /// Rows written so far (not counting the header and hashtag rows).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Notes that the report lists this household's record (as a whole).
    pub fn touched_household(&mut self, id: &str) {
        self.touched.households.push(id.to_string());
    }

    /// Notes that the report lists this person.
    pub fn touched_person(&mut self, id: &str) {
        self.touched.persons.push(id.to_string());
    }

    /// Whom the report listed so far.
    pub fn take_touched(&mut self) -> Touched {
        std::mem::take(&mut self.touched)
    }

    /// Flushes everything and gives the underlying writer back.
    pub fn finish(self) -> Result<W, ApiError> {
        let mut out = self
            .out
            .into_inner()
            .map_err(|e| write_failed(e.into_error()))?;
        out.flush().map_err(write_failed)?;
        Ok(out)
    }
}

fn write_failed(error: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("the report could not be written: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [Column; 3] = [
        column("name", "#loc+name"),
        column("count", "#affected"),
        column("note", "#description"),
    ];

    fn render(format: &Format, rows: &[(&str, i64, Option<&str>)]) -> String {
        let mut csv = Csv::start(Vec::new(), &COLUMNS, format).unwrap();
        for (name, count, note) in rows {
            csv.text(name);
            csv.int(*count);
            csv.opt_text(*note);
            csv.end_row().unwrap();
        }
        String::from_utf8(csv.finish().unwrap()).unwrap()
    }

    #[test]
    fn cells_that_a_spreadsheet_would_run_start_with_an_apostrophe() {
        let out = render(
            &Format::default(),
            &[
                ("=HYPERLINK(\"http://x\")", -3, Some("+1")),
                ("-2+3", 0, Some("@SUM(A1)")),
                ("\tx", 1, Some("\rx")),
                ("Գորիս", 2, Some("a=b")),
            ],
        );
        assert_eq!(
            out,
            "name,count,note\r\n\
             \"'=HYPERLINK(\"\"http://x\"\")\",-3,'+1\r\n\
             '-2+3,0,'@SUM(A1)\r\n\
             '\tx,1,\"'\rx\"\r\n\
             Գորիս,2,a=b\r\n"
        );
    }

    #[test]
    fn bom_hashtags_and_a_chosen_order_of_columns() {
        let format = Format {
            bom: true,
            hxl: true,
            columns: Some(vec!["note".into(), "name".into()]),
        };
        let out = render(&format, &[("Goris", 7, None)]);
        assert_eq!(
            out,
            "\u{feff}note,name\r\n#description,#loc+name\r\n,Goris\r\n"
        );
    }

    #[test]
    fn unknown_or_repeated_columns_are_refused() {
        assert!(Format::select("name,nope", &COLUMNS).is_err());
        assert!(Format::select("name,name", &COLUMNS).is_err());
        assert!(Format::select(" , ", &COLUMNS).is_err());
        assert_eq!(
            Format::select("count, name", &COLUMNS).unwrap(),
            vec!["count", "name"]
        );
    }
}
