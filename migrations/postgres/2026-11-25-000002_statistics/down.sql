DROP TABLE household_revisions;
DROP TABLE arrival_totals;
DROP TABLE arrival_counts;
