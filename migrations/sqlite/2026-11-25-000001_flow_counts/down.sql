DROP TABLE flow_count_corrections;
DROP TABLE flow_counts;
