//! Diesel table definitions, shared by both backends.
//!
//! Only SQL types that `diesel::MultiConnection` carries for SQLite and
//! PostgreSQL alike are used: UUIDs are `Text`, instants are UTC `Timestamp`s.
//! `tests/api/schema_drift.rs` checks this file against both migrated databases.

diesel::table! {
    centers (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        kind -> Text,
        province -> Text,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        timezone -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        contact -> Nullable<Text>,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        disabled -> Bool,
        created_at -> Timestamp,
        display_name -> Nullable<Text>,
        token_generation -> Integer,
        must_change_password -> Bool,
        version -> Integer,
        updated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        user_id -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    login_throttles (throttle_key) {
        throttle_key -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
        lockouts -> Integer,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        request_id -> Nullable<Text>,
        account_id -> Nullable<Text>,
        username -> Nullable<Text>,
        role -> Nullable<Text>,
        action -> Text,
        center_id -> Nullable<Text>,
        resource_type -> Nullable<Text>,
        resource_id -> Nullable<Text>,
        version -> Nullable<Integer>,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    audit_subjects (subject_type, subject_id, event_id) {
        subject_type -> Text,
        subject_id -> Text,
        event_id -> Text,
    }
}

diesel::table! {
    user_centers (user_id, center_id) {
        user_id -> Text,
        center_id -> Text,
    }
}

diesel::table! {
    households (id) {
        id -> Text,
        center_id -> Text,
        arrived_at -> Timestamp,
        origin_settlement -> Text,
        intended_destination -> Nullable<Text>,
        phone -> Nullable<Text>,
        size -> Integer,
        version -> Integer,
        registered_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        import_fingerprint -> Nullable<Text>,
        reached_housing_at -> Nullable<Timestamp>,
        reached_food_at -> Nullable<Timestamp>,
        reached_fuel_at -> Nullable<Timestamp>,
        reached_transport_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    persons (id) {
        id -> Text,
        household_id -> Text,
        position -> Integer,
        given_name -> Text,
        family_name -> Text,
        patronymic -> Nullable<Text>,
        name_latin -> Nullable<Text>,
        sex -> Text,
        birth_date -> Nullable<Date>,
        estimated_age -> Nullable<Integer>,
        relationship -> Text,
        document_type -> Nullable<Text>,
        document_number -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        merged_into -> Nullable<Text>,
        merged_at -> Nullable<Timestamp>,
        tracing_consent -> Bool,
    }
}

diesel::table! {
    person_match_keys (match_key, birth_year, person_id) {
        match_key -> Text,
        birth_year -> Integer,
        person_id -> Text,
    }
}

diesel::table! {
    match_keys_pending (person_id) {
        person_id -> Text,
    }
}

diesel::table! {
    match_changes (seq) {
        seq -> BigInt,
        person_id -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    duplicate_pairs (id) {
        id -> Text,
        person_a -> Text,
        person_b -> Text,
        center_a -> Text,
        center_b -> Text,
        score -> Double,
        fields -> Text,
        status -> Text,
        version -> Integer,
        proposed_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<Text>,
        reason -> Nullable<Text>,
        merged_person_id -> Nullable<Text>,
    }
}

diesel::table! {
    tracing_requests (id) {
        id -> Text,
        center_id -> Text,
        enquirer_person_id -> Text,
        enquirer_household_id -> Text,
        given_name -> Text,
        family_name -> Text,
        patronymic -> Nullable<Text>,
        sex -> Text,
        birth_date -> Nullable<Date>,
        approximate_age -> Nullable<Integer>,
        relationship -> Text,
        origin_settlement -> Nullable<Text>,
        last_seen_place -> Nullable<Text>,
        last_seen_on -> Nullable<Date>,
        status -> Text,
        version -> Integer,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    tracing_request_keys (match_key, birth_year, request_id) {
        match_key -> Text,
        birth_year -> Integer,
        request_id -> Text,
    }
}

diesel::table! {
    tracing_matches (id) {
        id -> Text,
        request_id -> Text,
        person_id -> Text,
        center_id -> Text,
        score -> Double,
        fields -> Text,
        status -> Text,
        version -> Integer,
        proposed_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<Text>,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    person_needs (person_id, code) {
        person_id -> Text,
        code -> Text,
    }
}

diesel::table! {
    person_name_keys (name_key, person_id) {
        name_key -> Text,
        person_id -> Text,
    }
}

diesel::table! {
    person_name_keys_recent (name_key, person_id) {
        name_key -> Text,
        person_id -> Text,
    }
}

diesel::table! {
    derived_versions (name) {
        name -> Text,
        version -> Text,
        rebuilt_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (scope, idempotency_key) {
        scope -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        response_status -> Integer,
        response_body -> Text,
        resource_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    flow_counts (id) {
        id -> Text,
        center_id -> Text,
        window_start -> Timestamp,
        window_end -> Timestamp,
        direction -> Text,
        people -> Integer,
        vehicles -> Nullable<Integer>,
        by_sex_age -> Nullable<Text>,
        version -> Integer,
        recorded_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    flow_count_corrections (flow_count_id, version) {
        flow_count_id -> Text,
        version -> Integer,
        reason -> Text,
        previous -> Text,
        corrected_by -> Text,
        corrected_at -> Timestamp,
    }
}

diesel::table! {
    arrival_counts (center_id, bucket, dimension, value, shard) {
        center_id -> Text,
        bucket -> Timestamp,
        dimension -> Text,
        value -> Text,
        shard -> Integer,
        persons -> BigInt,
        households -> BigInt,
    }
}

diesel::table! {
    arrival_counts_daily (center_id, day, dimension, value, shard) {
        center_id -> Text,
        day -> Timestamp,
        dimension -> Text,
        value -> Text,
        shard -> Integer,
        persons -> BigInt,
        households -> BigInt,
    }
}

diesel::table! {
    distributed_totals (center_id, bucket, item_id, shard) {
        center_id -> Text,
        bucket -> Timestamp,
        item_id -> Text,
        shard -> Integer,
        quantity -> BigInt,
    }
}

diesel::table! {
    distributed_totals_daily (center_id, day, item_id, shard) {
        center_id -> Text,
        day -> Timestamp,
        item_id -> Text,
        shard -> Integer,
        quantity -> BigInt,
    }
}

diesel::table! {
    occupancy_at_hour_end (site_id, hour) {
        site_id -> Text,
        hour -> Timestamp,
        persons -> BigInt,
        households -> BigInt,
    }
}

diesel::table! {
    arrival_totals (center_id, bucket, shard) {
        center_id -> Text,
        bucket -> Timestamp,
        shard -> Integer,
        persons -> BigInt,
        households -> BigInt,
        female -> BigInt,
        male -> BigInt,
        other -> BigInt,
        unknown -> BigInt,
    }
}

diesel::table! {
    household_revisions (household_id, version) {
        household_id -> Text,
        version -> Integer,
        snapshot -> Text,
        replaced_at -> Timestamp,
        replaced_by -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        kind -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sites (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        kind -> Text,
        province -> Text,
        settlement -> Nullable<Text>,
        capacity_beds -> Integer,
        floor_area_m2 -> Nullable<Double>,
        organization_id -> Text,
        occupied_beds -> Integer,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    placements (id) {
        id -> Text,
        household_id -> Text,
        site_id -> Text,
        persons -> Integer,
        checked_in_at -> Timestamp,
        checked_out_at -> Nullable<Timestamp>,
        checkout_reason -> Nullable<Text>,
        moved_from -> Nullable<Text>,
        placed_by -> Text,
        checked_out_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    items (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        unit -> Text,
        sector -> Text,
        kcal_per_unit -> Nullable<Integer>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    stock_levels (center_id, item_id) {
        center_id -> Text,
        item_id -> Text,
        quantity -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    entitlements (id) {
        id -> Text,
        item_id -> Text,
        basis -> Text,
        quantity -> BigInt,
        every_days -> Nullable<Integer>,
        every_months -> Nullable<Integer>,
        max_times -> Nullable<Integer>,
        starts_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    distributions (id) {
        id -> Text,
        household_id -> Text,
        center_id -> Text,
        item_id -> Text,
        quantity -> BigInt,
        persons -> Integer,
        organization_id -> Text,
        distributed_at -> Timestamp,
        override_reason -> Nullable<Text>,
        recorded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    stock_movements (id) {
        id -> Text,
        center_id -> Text,
        item_id -> Text,
        kind -> Text,
        quantity -> BigInt,
        occurred_at -> Timestamp,
        organization_id -> Nullable<Text>,
        counterpart_center_id -> Nullable<Text>,
        transfer_id -> Nullable<Text>,
        distribution_id -> Nullable<Text>,
        reason -> Nullable<Text>,
        reference -> Nullable<Text>,
        recorded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    trips (id) {
        id -> Text,
        center_id -> Text,
        destination_province -> Text,
        destination_settlement -> Nullable<Text>,
        departs_at -> Timestamp,
        vehicle -> Text,
        seats -> Integer,
        seats_taken -> Integer,
        organization_id -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    boardings (id) {
        id -> Text,
        group_id -> Text,
        trip_id -> Text,
        household_id -> Text,
        person_id -> Text,
        boarded_at -> Timestamp,
        recorded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    referrals (id) {
        id -> Text,
        household_id -> Text,
        person_id -> Text,
        facility -> Text,
        facility_province -> Nullable<Text>,
        category -> Text,
        priority -> Text,
        status -> Text,
        organization_id -> Nullable<Text>,
        referred_at -> Timestamp,
        version -> Integer,
        recorded_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    referral_status_changes (referral_id, version) {
        referral_id -> Text,
        version -> Integer,
        status -> Text,
        changed_at -> Timestamp,
        changed_by -> Text,
    }
}

diesel::joinable!(user_centers -> users (user_id));
diesel::joinable!(audit_subjects -> audit_events (event_id));
diesel::joinable!(user_centers -> centers (center_id));
diesel::joinable!(households -> centers (center_id));
diesel::joinable!(arrival_counts -> centers (center_id));
diesel::joinable!(arrival_counts_daily -> centers (center_id));
diesel::joinable!(distributed_totals -> centers (center_id));
diesel::joinable!(distributed_totals -> items (item_id));
diesel::joinable!(distributed_totals_daily -> centers (center_id));
diesel::joinable!(distributed_totals_daily -> items (item_id));
diesel::joinable!(occupancy_at_hour_end -> sites (site_id));
diesel::joinable!(arrival_totals -> centers (center_id));
diesel::joinable!(household_revisions -> households (household_id));
diesel::joinable!(persons -> households (household_id));
diesel::joinable!(person_needs -> persons (person_id));
diesel::joinable!(person_name_keys -> persons (person_id));
diesel::joinable!(person_name_keys_recent -> persons (person_id));
diesel::joinable!(flow_counts -> centers (center_id));
diesel::joinable!(flow_count_corrections -> flow_counts (flow_count_id));
diesel::joinable!(sites -> organizations (organization_id));
diesel::joinable!(placements -> sites (site_id));
diesel::joinable!(placements -> households (household_id));
diesel::joinable!(stock_levels -> items (item_id));
diesel::joinable!(stock_levels -> centers (center_id));
diesel::joinable!(entitlements -> items (item_id));
diesel::joinable!(distributions -> items (item_id));
diesel::joinable!(distributions -> households (household_id));
diesel::joinable!(stock_movements -> items (item_id));
diesel::joinable!(trips -> centers (center_id));
diesel::joinable!(trips -> organizations (organization_id));
diesel::joinable!(boardings -> trips (trip_id));
diesel::joinable!(boardings -> households (household_id));
diesel::joinable!(boardings -> persons (person_id));
diesel::joinable!(referrals -> households (household_id));
diesel::joinable!(referrals -> persons (person_id));
diesel::joinable!(referrals -> organizations (organization_id));
diesel::joinable!(referral_status_changes -> referrals (referral_id));
diesel::joinable!(tracing_matches -> tracing_requests (request_id));
diesel::joinable!(tracing_request_keys -> tracing_requests (request_id));

diesel::allow_tables_to_appear_in_same_query!(
    centers,
    users,
    user_centers,
    revoked_tokens,
    login_throttles,
    audit_events,
    audit_subjects,
    households,
    persons,
    person_match_keys,
    match_changes,
    match_keys_pending,
    duplicate_pairs,
    tracing_requests,
    tracing_request_keys,
    tracing_matches,
    person_needs,
    person_name_keys,
    person_name_keys_recent,
    derived_versions,
    idempotency_keys,
    flow_counts,
    flow_count_corrections,
    arrival_counts,
    arrival_counts_daily,
    distributed_totals,
    distributed_totals_daily,
    occupancy_at_hour_end,
    arrival_totals,
    household_revisions,
    organizations,
    sites,
    placements,
    items,
    stock_levels,
    entitlements,
    distributions,
    stock_movements,
    trips,
    boardings,
    referrals,
    referral_status_changes,
);
