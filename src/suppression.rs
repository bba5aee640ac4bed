//! Small-cell suppression for statistics shown to people who may not see
//! person-level records.
//!
//! A response is modelled as cells (counts) and the linear relations between
//! them that a reader can see: a total is the sum of its parts, a cumulative
//! count is the previous one plus the new arrivals, a backlog is crossed minus
//! registered. Every count from 1 to k-1 is withheld (primary suppression);
//! then more cells are withheld until no withheld count can be worked out from
//! the published ones through those relations (complementary suppression).
//! The check is exact linear algebra over the withheld cells, not a row-by-row
//! heuristic, so combinations of several relations cannot reveal a cell either.

/// Identifies a cell of a [`Table`].
pub type Cell = usize;

/// Counts and the relations between them.
#[derive(Debug, Default, Clone)]
pub struct Table {
    values: Vec<i64>,
    /// Each relation says `Σ coefficient × cell = 0`.
    relations: Vec<Vec<(Cell, i64)>>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    /// Adds a count and returns its cell.
    pub fn cell(&mut self, value: i64) -> Cell {
        self.values.push(value);
        self.values.len() - 1
    }

    /// Records that `total` is the sum of `parts`.
    pub fn sum(&mut self, total: Cell, parts: &[Cell]) {
        let mut relation: Vec<(Cell, i64)> = parts.iter().map(|&p| (p, 1)).collect();
        relation.push((total, -1));
        self.relations.push(relation);
    }

    /// Records that `Σ coefficient × cell = 0` (e.g. backlog = crossed − registered).
    pub fn relation(&mut self, terms: &[(Cell, i64)]) {
        self.relations.push(terms.to_vec());
    }

    /// How many cells there are.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there is no cell.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value of a cell.
    pub fn value(&self, cell: Cell) -> i64 {
        self.values[cell]
    }

    /// Which cells to withhold for threshold `k`.
    pub fn suppress(&self, k: i64) -> Vec<bool> {
        let mut hidden: Vec<bool> = self.values.iter().map(|&v| v > 0 && v < k).collect();
        if !hidden.iter().any(|&h| h) {
            return hidden;
        }
        loop {
            // Cheap pass: a relation with exactly one withheld cell reveals it.
            let mut changed = false;
            for relation in &self.relations {
                if relation.iter().filter(|(c, _)| hidden[*c]).count() == 1 {
                    if let Some(cell) = self.complement(relation, &hidden) {
                        hidden[cell] = true;
                        changed = true;
                    }
                }
            }
            if changed {
                continue;
            }
            // Exact pass: any withheld cell that the relations determine.
            let Some(revealed) = self.determined(&hidden).into_iter().next() else {
                return hidden;
            };
            let candidate = self
                .relations
                .iter()
                .filter(|r| r.iter().any(|(c, _)| *c == revealed))
                .find_map(|r| self.complement(r, &hidden));
            match candidate {
                Some(cell) => hidden[cell] = true,
                // Nothing left to withhold next to it: withhold every cell it relates to.
                None => return hidden,
            }
        }
    }

    /// The published cell of `relation` best withheld to protect the others:
    /// the smallest non-zero count, else a zero.
    fn complement(&self, relation: &[(Cell, i64)], hidden: &[bool]) -> Option<Cell> {
        relation
            .iter()
            .map(|(c, _)| *c)
            .filter(|&c| !hidden[c])
            .min_by_key(|&c| (self.values[c] == 0, self.values[c], c))
    }

    /// Withheld cells whose value follows from the published ones: those whose
    /// unit vector lies in the row space of the relations restricted to the
    /// withheld cells. Found by Gauss-Jordan elimination on sparse rows (in
    /// ascending cell order): a withheld cell is determined exactly when its
    /// pivot row has no other entry.
    ///
    /// Sparse because the tables are long and thin: an hourly series over a
    /// month is ~1,500 cells whose relations have two or three terms each,
    /// and a dense matrix of that size took seconds per pass.
    fn determined(&self, hidden: &[bool]) -> Vec<Cell> {
        const EPS: f64 = 1e-9;
        // Each relation as sorted (cell, coefficient) terms over withheld cells.
        let mut rows: Vec<Vec<(Cell, f64)>> = self
            .relations
            .iter()
            .filter_map(|relation| {
                let mut row: Vec<(Cell, f64)> = Vec::new();
                for &(cell, coefficient) in relation {
                    if hidden[cell] {
                        row.push((cell, coefficient as f64));
                    }
                }
                row.sort_by_key(|&(cell, _)| cell);
                row.dedup_by(|later, earlier| {
                    let same = later.0 == earlier.0;
                    if same {
                        earlier.1 += later.1;
                    }
                    same
                });
                row.retain(|&(_, v)| v.abs() > EPS);
                (!row.is_empty()).then_some(row)
            })
            .collect();
        // Which rows may hold a column (entries can cancel: checked on use).
        let mut holding: std::collections::HashMap<Cell, Vec<usize>> = Default::default();
        for (i, row) in rows.iter().enumerate() {
            for &(cell, _) in row {
                holding.entry(cell).or_default().push(i);
            }
        }
        let coefficient = |row: &[(Cell, f64)], cell: Cell| {
            row.binary_search_by_key(&cell, |&(c, _)| c)
                .ok()
                .map(|at| row[at].1)
        };
        let mut is_pivot = vec![false; rows.len()];
        let mut pivots: Vec<(usize, Cell)> = Vec::new();
        for cell in (0..self.values.len()).filter(|&c| hidden[c]) {
            let candidates = holding.get(&cell).cloned().unwrap_or_default();
            let Some(r) = candidates.iter().copied().find(|&i| {
                !is_pivot[i] && coefficient(&rows[i], cell).is_some_and(|v| v.abs() > EPS)
            }) else {
                continue;
            };
            let pivot = coefficient(&rows[r], cell).unwrap_or(1.0);
            for term in rows[r].iter_mut() {
                term.1 /= pivot;
            }
            let pivot_row = rows[r].clone();
            let mut seen = std::collections::HashSet::new();
            for i in candidates {
                if i == r || !seen.insert(i) {
                    continue;
                }
                let Some(factor) = coefficient(&rows[i], cell).filter(|v| v.abs() > EPS) else {
                    continue;
                };
                rows[i] = subtract(&rows[i], factor, &pivot_row, EPS);
                for &(c, _) in &pivot_row {
                    holding.entry(c).or_default().push(i);
                }
            }
            is_pivot[r] = true;
            pivots.push((r, cell));
        }
        pivots
            .into_iter()
            .filter(|&(row, _)| rows[row].len() == 1)
            .map(|(_, cell)| cell)
            .collect()
    }
}

/// `row - factor × other`, both sorted by cell, dropping entries that cancel.
fn subtract(row: &[(Cell, f64)], factor: f64, other: &[(Cell, f64)], eps: f64) -> Vec<(Cell, f64)> {
    let mut out = Vec::with_capacity(row.len() + other.len());
    let (mut i, mut j) = (0, 0);
    while i < row.len() || j < other.len() {
        let (cell, value) = match (row.get(i), other.get(j)) {
            (Some(&(a, x)), Some(&(b, y))) if a == b => {
                i += 1;
                j += 1;
                (a, x - factor * y)
            }
            (Some(&(a, x)), Some(&(b, _))) if a < b => {
                i += 1;
                (a, x)
            }
            (Some(&(a, x)), None) => {
                i += 1;
                (a, x)
            }
            (_, Some(&(b, y))) => {
                j += 1;
                (b, -factor * y)
            }
            (None, None) => unreachable!("the loop stops when both are done"),
        };
        if value.abs() > eps {
            out.push((cell, value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward dense elimination the sparse one replaced: the
    /// reference it must agree with.
    fn determined_dense(table: &Table, hidden: &[bool]) -> Vec<Cell> {
        const EPS: f64 = 1e-9;
        let unknowns: Vec<Cell> = (0..table.values.len()).filter(|&c| hidden[c]).collect();
        let column = |cell: Cell| unknowns.iter().position(|&u| u == cell);
        let mut rows: Vec<Vec<f64>> = table
            .relations
            .iter()
            .map(|relation| {
                let mut row = vec![0.0; unknowns.len()];
                for &(cell, coefficient) in relation {
                    if let Some(j) = column(cell) {
                        row[j] += coefficient as f64;
                    }
                }
                row
            })
            .collect();
        let mut pivots = Vec::new();
        let mut r = 0;
        for j in 0..unknowns.len() {
            let Some(p) = (r..rows.len()).find(|&i| rows[i][j].abs() > EPS) else {
                continue;
            };
            rows.swap(r, p);
            let pivot = rows[r][j];
            rows[r].iter_mut().for_each(|v| *v /= pivot);
            let pivot_row = rows[r].clone();
            for (i, row) in rows.iter_mut().enumerate() {
                if i != r && row[j].abs() > EPS {
                    let factor = row[j];
                    row.iter_mut()
                        .zip(&pivot_row)
                        .for_each(|(v, p)| *v -= factor * p);
                }
            }
            pivots.push((r, j));
            r += 1;
        }
        pivots
            .into_iter()
            .filter(|&(row, j)| {
                rows[row]
                    .iter()
                    .enumerate()
                    .all(|(other, v)| other == j || v.abs() <= EPS)
            })
            .map(|(_, j)| unknowns[j])
            .collect()
    }

    #[test]
    fn sparse_elimination_agrees_with_dense_elimination() {
        // A small linear congruential generator: reproducible without a crate.
        let mut seed: u64 = 2023;
        let mut next = |below: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % below
        };
        for _ in 0..300 {
            let mut t = Table::new();
            let cells = 2 + next(14) as usize;
            for _ in 0..cells {
                t.cell(next(8) as i64);
            }
            for _ in 0..1 + next(8) {
                let terms = 2 + next(3) as usize;
                let relation: Vec<(Cell, i64)> = (0..terms)
                    .map(|_| (next(cells as u64) as usize, [1, -1, 2][next(3) as usize]))
                    .collect();
                t.relation(&relation);
            }
            let hidden: Vec<bool> = (0..cells).map(|_| next(2) == 0).collect();
            assert_eq!(
                t.determined(&hidden),
                determined_dense(&t, &hidden),
                "{t:?} {hidden:?}"
            );
        }
    }

    #[test]
    fn a_month_of_hourly_cumulative_counts_is_suppressed() {
        // One arrival in the first hour: every cumulative count after it is 1.
        let mut t = Table::new();
        let mut previous = t.cell(0);
        let mut cumulative = Vec::new();
        for hour in 0..744 {
            let new = t.cell(if hour == 0 { 1 } else { 0 });
            let running = t.cell(1);
            t.relation(&[(previous, 1), (new, 1), (running, -1)]);
            previous = running;
            cumulative.push(running);
        }
        let hidden = t.suppress(5);
        assert!(cumulative.iter().all(|&c| hidden[c]));
        assert!(t.determined(&hidden).is_empty());
    }

    #[test]
    fn nothing_is_withheld_when_no_count_is_small() {
        let mut t = Table::new();
        let a = t.cell(10);
        let b = t.cell(0);
        let total = t.cell(10);
        t.sum(total, &[a, b]);
        assert_eq!(t.suppress(5), vec![false, false, false]);
    }

    #[test]
    fn a_small_cell_gets_a_complement_in_its_row() {
        let mut t = Table::new();
        let a = t.cell(3);
        let b = t.cell(40);
        let c = t.cell(12);
        let total = t.cell(55);
        t.sum(total, &[a, b, c]);
        let hidden = t.suppress(5);
        assert!(hidden[a]);
        assert!(hidden[c], "the smallest other cell protects it");
        assert!(!hidden[b] && !hidden[total]);
    }

    #[test]
    fn the_total_is_withheld_when_it_is_the_only_other_cell() {
        let mut t = Table::new();
        let a = t.cell(2);
        let total = t.cell(2);
        t.sum(total, &[a]);
        assert_eq!(t.suppress(5), vec![true, true]);
    }

    #[test]
    fn two_dimensional_tables_cannot_be_solved() {
        // 2×2 cells with row and column totals: withholding a 2×2 block that
        // spans two rows and two columns is safe; one cell alone is not.
        let mut t = Table::new();
        let cells: Vec<Cell> = [2, 30, 40, 50].iter().map(|&v| t.cell(v)).collect();
        let r0 = t.cell(32);
        let r1 = t.cell(90);
        let c0 = t.cell(42);
        let c1 = t.cell(80);
        t.sum(r0, &[cells[0], cells[1]]);
        t.sum(r1, &[cells[2], cells[3]]);
        t.sum(c0, &[cells[0], cells[2]]);
        t.sum(c1, &[cells[1], cells[3]]);
        let hidden = t.suppress(5);
        assert!(hidden[cells[0]]);
        assert!(t.determined(&hidden).is_empty(), "{hidden:?}");
    }

    #[test]
    fn relations_combined_do_not_reveal_a_cell() {
        // Cumulative series: cum1 = base + new1, cum2 = cum1 + new2.
        let mut t = Table::new();
        let base = t.cell(100);
        let new1 = t.cell(3);
        let cum1 = t.cell(103);
        let new2 = t.cell(20);
        let cum2 = t.cell(123);
        t.relation(&[(base, 1), (new1, 1), (cum1, -1)]);
        t.relation(&[(cum1, 1), (new2, 1), (cum2, -1)]);
        let hidden = t.suppress(5);
        assert!(hidden[new1]);
        assert!(t.determined(&hidden).is_empty(), "{hidden:?}");
    }
}
