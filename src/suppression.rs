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
    /// withheld cells (found by reduced row echelon form).
    fn determined(&self, hidden: &[bool]) -> Vec<Cell> {
        let unknowns: Vec<Cell> = (0..self.values.len()).filter(|&c| hidden[c]).collect();
        let column = |cell: Cell| unknowns.iter().position(|&u| u == cell);
        let mut rows: Vec<Vec<f64>> = self
            .relations
            .iter()
            .filter_map(|relation| {
                let mut row = vec![0.0; unknowns.len()];
                let mut any = false;
                for &(cell, coefficient) in relation {
                    if let Some(j) = column(cell) {
                        row[j] += coefficient as f64;
                        any = true;
                    }
                }
                any.then_some(row)
            })
            .collect();
        const EPS: f64 = 1e-9;
        let mut pivots = Vec::new();
        let mut r = 0;
        for j in 0..unknowns.len() {
            let Some(p) = (r..rows.len()).find(|&i| rows[i][j].abs() > EPS) else {
                continue;
            };
            rows.swap(r, p);
            let pivot = rows[r][j];
            for v in rows[r].iter_mut() {
                *v /= pivot;
            }
            let pivot_row = rows[r].clone();
            for (i, row) in rows.iter_mut().enumerate() {
                if i != r && row[j].abs() > EPS {
                    let factor = row[j];
                    for (v, p) in row.iter_mut().zip(&pivot_row) {
                        *v -= factor * p;
                    }
                }
            }
            pivots.push((r, j));
            r += 1;
            if r == rows.len() {
                break;
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
