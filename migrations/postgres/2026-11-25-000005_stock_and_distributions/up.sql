-- Supplies: an item catalogue, per-center stock as an append-only ledger,
-- entitlement rules as data, and distributions to households.
-- Kept in lockstep with ../../sqlite/2026-11-25-000005_stock_and_distributions/up.sql.

CREATE TABLE items (
    id            TEXT PRIMARY KEY NOT NULL,
    code          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    unit          TEXT NOT NULL CHECK (unit IN ('piece', 'kit', 'ration', 'parcel', 'meal', 'liter', 'kg', 'amd')),
    sector        TEXT NOT NULL CHECK (sector IN ('food', 'health', 'shelter', 'nfi', 'wash', 'fuel', 'cash',
                                                  'protection', 'other')),
    -- Food: energy per unit, for the Sphere 2,100 kcal per person per day comparison.
    kcal_per_unit INTEGER CHECK (kcal_per_unit > 0),
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

-- What each center holds now: the sum of its ledger rows, kept by the same
-- transaction that appends one. Stock leaves with a conditional UPDATE
-- (quantity >= n), so it never goes negative under concurrent requests from
-- any number of server processes; the CHECK backs it up.
CREATE TABLE stock_levels (
    center_id  TEXT NOT NULL REFERENCES centers (id),
    item_id    TEXT NOT NULL REFERENCES items (id),
    quantity   BIGINT NOT NULL CHECK (quantity >= 0),
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (center_id, item_id)
);

-- One rule per item, as data: quantity per household or per person, once or
-- per period (every N days or N months from starts_at, or from the
-- household's arrival), for at most max_times periods.
CREATE TABLE entitlements (
    id           TEXT PRIMARY KEY NOT NULL,
    item_id      TEXT NOT NULL UNIQUE REFERENCES items (id),
    basis        TEXT NOT NULL CHECK (basis IN ('household', 'person')),
    quantity     BIGINT NOT NULL CHECK (quantity > 0),
    every_days   INTEGER CHECK (every_days > 0),
    every_months INTEGER CHECK (every_months > 0),
    max_times    INTEGER CHECK (max_times > 0),
    starts_at    TIMESTAMP,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    CHECK (every_days IS NULL OR every_months IS NULL)
);

-- Items given to a household, from a center's stock, by an organization.
CREATE TABLE distributions (
    id              TEXT PRIMARY KEY NOT NULL,
    household_id    TEXT NOT NULL REFERENCES households (id),
    center_id       TEXT NOT NULL REFERENCES centers (id),
    item_id         TEXT NOT NULL REFERENCES items (id),
    quantity        BIGINT NOT NULL CHECK (quantity > 0),
    -- Members of the household at the time: the persons reached.
    persons         INTEGER NOT NULL CHECK (persons > 0),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    distributed_at  TIMESTAMP NOT NULL,
    -- Set when an admin or aid worker gave more than the entitlement, and why.
    override_reason TEXT,
    recorded_by     TEXT NOT NULL REFERENCES users (id),
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX distributions_household_item ON distributions (household_id, item_id, distributed_at);
CREATE INDEX distributions_center_time ON distributions (center_id, distributed_at);

-- The stock ledger: append-only, signed quantities (+ into the center's
-- stock, - out). A transfer is two rows sharing transfer_id.
CREATE TABLE stock_movements (
    id                    TEXT PRIMARY KEY NOT NULL,
    center_id             TEXT NOT NULL REFERENCES centers (id),
    item_id               TEXT NOT NULL REFERENCES items (id),
    kind                  TEXT NOT NULL CHECK (kind IN ('receipt', 'transfer_out', 'transfer_in',
                                                        'distribution', 'adjustment')),
    quantity              BIGINT NOT NULL CHECK (quantity <> 0),
    occurred_at           TIMESTAMP NOT NULL,
    -- Receipts: the donor; distributions: the implementing organization.
    organization_id       TEXT REFERENCES organizations (id),
    -- Transfers: the other center, and the id both legs share.
    counterpart_center_id TEXT REFERENCES centers (id),
    transfer_id           TEXT,
    distribution_id       TEXT REFERENCES distributions (id),
    reason                TEXT,
    reference             TEXT,
    recorded_by           TEXT NOT NULL REFERENCES users (id),
    created_at            TIMESTAMP NOT NULL,
    CHECK (kind <> 'adjustment' OR reason IS NOT NULL),
    CHECK (kind <> 'receipt' OR (quantity > 0 AND organization_id IS NOT NULL)),
    CHECK (kind <> 'distribution' OR distribution_id IS NOT NULL)
);
CREATE INDEX stock_movements_center_item_time ON stock_movements (center_id, item_id, occurred_at);
CREATE INDEX stock_movements_time ON stock_movements (occurred_at);
