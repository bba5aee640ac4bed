DROP TABLE household_revisions;
DROP TABLE arrival_counts;
