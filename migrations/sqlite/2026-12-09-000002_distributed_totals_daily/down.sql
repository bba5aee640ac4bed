DROP TABLE distributed_totals_daily;
