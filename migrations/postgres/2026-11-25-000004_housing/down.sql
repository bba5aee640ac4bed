DROP TABLE placements;
DROP TABLE sites;
DROP TABLE organizations;
