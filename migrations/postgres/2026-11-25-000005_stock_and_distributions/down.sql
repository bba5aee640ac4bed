DROP TABLE stock_movements;
DROP TABLE distributions;
DROP TABLE entitlements;
DROP TABLE stock_levels;
DROP TABLE items;
