//! The documented 2023 exodus replayed over HTTP (`--url`) must reproduce
//! its figures too, and a second replay adds nothing (in-process and over
//! HTTP), checked on small scenarios whose plans go through the same code
//! paths. The full-scale replay is in `exodus.rs`.

use refuge::scenario::{remote, replay, replay::Mismatch, Options};

use crate::backend_tests;
use crate::helpers::{TestApp, ADMIN_PASSWORD};

backend_tests!(
    a_second_replay_adds_nothing,
    replay_over_http_reproduces_the_figures_including_corrections,
    a_second_replay_over_http_records_nothing
);

/// Replays the scenario at `options` over HTTP against `app`, then checks
/// its figures: what the replay did, and the figures that differ.
async fn replay_over_http(app: &TestApp, options: Options) -> (replay::Report, Vec<Mismatch>) {
    let url = app.address.clone();
    tokio::task::spawn_blocking(move || {
        let server = remote::Server::login(&url, "admin", ADMIN_PASSWORD).unwrap();
        let hidden = indicatif::ProgressBar::hidden();
        let report = remote::replay(&server, &options, &hidden).unwrap();
        (report, remote::check(&server, &options).unwrap())
    })
    .await
    .unwrap()
}

/// A quarter of the real size: the smallest scale whose plan includes a
/// correction (one member's sex recorded after registration).
async fn replay_over_http_reproduces_the_figures_including_corrections(app: TestApp) {
    let options = Options {
        scale: 0.25,
        seed: 7,
    };
    let (report, mismatches) = replay_over_http(&app, options).await;
    assert!(report.households > 6_000, "{report:?}");
    assert!(report.corrections >= 1, "{report:?}");
    assert_eq!(report.already_there, 0);
    assert_eq!(
        mismatches,
        vec![],
        "figures the HTTP replay did not reproduce"
    );
    // The server's aggregates equal a recount of what the replay stored.
    let (stored, expected) = app.aggregates_and_recount().await;
    assert_eq!(stored, expected);
    // State accommodation went through the API too, and no site overfilled.
    assert!(
        report.placements > 3_000 && report.departures > 0,
        "{report:?}"
    );
    let drift = app
        .with_db(|conn| refuge::housing::verify(conn).unwrap())
        .await;
    assert!(drift.is_empty(), "{drift:?}");
}

/// A second run (or a retry of every request) records nothing new. Checked
/// at 5% scale, whose plan sends every kind of request too: at a quarter
/// scale, the second run made the test above the second slowest of all.
async fn a_second_replay_over_http_records_nothing(app: TestApp) {
    let options = Options {
        scale: 0.05,
        seed: 7,
    };
    let (report, mismatches) = replay_over_http(&app, options).await;
    assert_eq!(report.already_there, 0);
    assert!(mismatches.is_empty(), "{mismatches:?}");
    let (again, mismatches) = replay_over_http(&app, options).await;
    assert_eq!(
        (
            again.flow_counts,
            again.households,
            again.corrections,
            again.placements,
            again.departures,
            again.receipts,
            again.distributions,
            again.trips,
            again.boardings
        ),
        (0, 0, 0, 0, 0, 0, 0, 0, 0),
        "{again:?}"
    );
    assert_eq!(
        again.already_there,
        report.flow_counts
            + report.households
            + report.corrections
            + report.placements
            + report.departures
            + report.receipts
            + report.distributions
            + report.trips
            + report.boardings
    );
    assert!(
        report.placements > 0 && report.distributions > 0 && report.boardings > 0,
        "every kind of request is retried: {report:?}"
    );
    assert!(mismatches.is_empty());
}

/// Replaying the scenario again (say, after an interruption) records
/// nothing new and still reproduces every figure of its scale.
async fn a_second_replay_adds_nothing(app: TestApp) {
    let options = Options {
        scale: 0.05,
        seed: 2023,
    };
    let extra = app.settings.provinces.extra.clone();
    let replay = || {
        let extra = extra.clone();
        app.with_db(move |conn| {
            let provinces = refuge::provinces::Provinces::new(&extra).unwrap();
            let hidden = indicatif::ProgressBar::hidden();
            let report = replay::replay(conn, &options, &provinces, &hidden).unwrap();
            let mismatches = replay::check(conn, &options).unwrap();
            (report, mismatches)
        })
    };
    let (first, mismatches) = replay().await;
    assert!(first.households > 0 && first.flow_counts > 0, "{first:?}");
    assert_eq!(first.already_there, 0);
    assert!(mismatches.is_empty(), "{mismatches:?}");
    let (again, mismatches) = replay().await;
    assert_eq!(
        again.households + again.flow_counts + again.corrections,
        0,
        "{again:?}"
    );
    assert!(mismatches.is_empty(), "{mismatches:?}");
    let (stored, expected) = app.aggregates_and_recount().await;
    assert_eq!(stored, expected);
}
