//! The documented 2023 exodus, replayed at full scale through the domain
//! code: the statistics API must report every dated official figure exactly
//! at its timestamp, and the headline facts must hold.
//!
//! It runs once per backend and is the longest test of the suite by far
//! (minutes on PostgreSQL). libtest starts tests in the order of their
//! names, so it lives in a module of its own named to start early, rather
//! than among the other scenario tests (`scenario.rs`), which start two
//! thirds of the way through: started last, it ran alone at the end.

use refuge::scenario::{self, replay, Options};
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(replay_reproduces_every_documented_figure);

fn at(path: &str, instant: &chrono::DateTime<chrono::FixedOffset>) -> String {
    format!(
        "{path}?suppress=false&as_of={}",
        instant.to_rfc3339().replace('+', "%2B")
    )
}

fn as_i64(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("not a count: {value}"))
}

async fn replay_reproduces_every_documented_figure(app: TestApp) {
    let options = Options {
        scale: 1.0,
        seed: 2023,
    };
    let extra = app.settings.provinces.extra.clone();
    let report = app
        .with_db(move |conn| {
            let provinces = refuge::provinces::Provinces::new(&extra).unwrap();
            let hidden = indicatif::ProgressBar::hidden();
            replay::replay(conn, &options, &provinces, &hidden).unwrap()
        })
        .await;
    assert_eq!(report.persons, 101_848);
    assert_eq!(report.corrections, 3);
    assert_eq!(report.already_there, 0);
    assert!(report.departures > 0);

    // Every documented figure, over HTTP, at its timestamp.
    let checkpoints = scenario::checkpoints(1.0);
    assert_eq!(checkpoints.len(), 30);
    for c in &checkpoints {
        let summary = app
            .get(
                &at("/api/v1/stats/summary", &c.observed_at),
                Some(app.admin()),
            )
            .await;
        assert_eq!(summary.status, 200, "{}", summary.text);
        let body = &summary.body;
        let expected = [
            ("crossed", c.crossed, &body["crossed"]["people"]),
            ("vehicles", c.vehicles, &body["crossed"]["vehicles"]),
            ("registered", c.registered, &body["registered"]["persons"]),
            ("male", c.registered_male, &body["registered"]["male"]),
            ("female", c.registered_female, &body["registered"]["female"]),
            (
                "unknown",
                c.registered_unknown,
                &body["registered"]["unknown"],
            ),
        ];
        for (figure, documented, reported) in expected {
            if let Some(documented) = documented {
                assert_eq!(
                    as_i64(reported),
                    documented,
                    "{figure} as of {}",
                    c.observed_at
                );
            }
        }
    }

    // State-provided accommodation, in total and per province, exactly as
    // documented, from the occupancy API.
    let documented_totals: Vec<i64> = scenario::observations()
        .into_iter()
        .filter_map(|o| o.state_accommodation)
        .collect();
    let snapshots = scenario::nk2023::accommodation_snapshots(1.0);
    assert_eq!(snapshots.len(), documented_totals.len());
    for (snapshot, total) in snapshots.iter().zip(documented_totals) {
        let path = format!(
            "/api/v1/occupancy?as_of={}",
            snapshot.observed_at.to_rfc3339().replace('+', "%2B")
        );
        let occupancy = app.get(&path, Some(app.admin())).await;
        assert_eq!(occupancy.status, 200, "{}", occupancy.text);
        assert_eq!(
            as_i64(&occupancy.body["total"]["state_provided_persons"]),
            total,
            "in state accommodation as of {}",
            snapshot.observed_at
        );
        for (province, documented) in &snapshot.documented {
            let reported = occupancy.body["provinces"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["province"] == *province)
                .map_or(0, |p| as_i64(&p["state_provided_persons"]));
            assert_eq!(
                reported, *documented,
                "{province} as of {}",
                snapshot.observed_at
            );
        }
    }

    // Headline checks (src/scenario/data/SOURCES.md).
    let summary = |t: &str| {
        let t = chrono::DateTime::parse_from_rfc3339(t).unwrap();
        let path = at("/api/v1/stats/summary", &t);
        let app = &app;
        async move { app.get(&path, Some(app.admin())).await.body }
    };
    let first_week = summary("2023-09-30T22:00:00+04:00").await;
    let first_arrival =
        chrono::DateTime::parse_from_rfc3339(first_week["first_arrival"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono_tz::Asia::Yerevan);
    assert_eq!(first_arrival.date_naive().to_string(), "2023-09-24");
    assert!(
        as_i64(&first_week["crossed"]["people"]) > 100_000,
        "over 100,000 within 7 days"
    );
    let by_29 = summary("2023-09-29T23:59:00+04:00").await;
    assert!(
        by_29["share_of_origin_population"]["crossed"]
            .as_f64()
            .unwrap()
            > 0.75
    );
    let by_4_oct = summary("2023-10-04T23:59:00+04:00").await;
    assert_eq!(by_4_oct["crossed"]["people"], 100_632);
    assert_eq!(by_4_oct["share_of_origin_population"]["crossed"], 0.8386);
    // Registration lags crossings, then catches up (ratios at the documented times).
    for (t, ratio) in [
        ("2023-09-28T20:00:00+04:00", 0.72),
        ("2023-10-01T15:00:00+04:00", 0.85),
        ("2023-10-02T16:00:00+04:00", 0.91),
        ("2023-10-04T23:59:00+04:00", 0.95),
    ] {
        let s = summary(t).await;
        let measured =
            as_i64(&s["registered"]["persons"]) as f64 / as_i64(&s["crossed"]["people"]) as f64;
        assert!(
            (measured - ratio).abs() < 0.015,
            "registered/crossed at {t}: {measured:.3}"
        );
        assert_eq!(
            as_i64(&s["backlog"]),
            as_i64(&s["crossed"]["people"]) - as_i64(&s["registered"]["persons"])
        );
    }
    let late = summary("2023-10-20T20:00:00+04:00").await;
    assert!(
        as_i64(&late["backlog"]) < 0,
        "registrations exceed crossings by 20 October"
    );

    // The peak calendar day is 27 September, with 26,600 crossings.
    let daily = app
        .get(
            "/api/v1/stats/arrivals?suppress=false&source=crossed&from=2023-09-24T00:00:00%2B04:00&to=2023-10-04T00:00:00%2B04:00",
            Some(app.admin()),
        )
        .await;
    assert_eq!(daily.status, 200, "{}", daily.text);
    let points = daily.body["total"]["points"].as_array().unwrap();
    let peak = points.iter().max_by_key(|p| as_i64(&p["new"])).unwrap();
    assert_eq!(peak["bucket"], "2023-09-27");
    assert_eq!(peak["new"], 26_600);

    // The aggregates equal a recount.
    let (stored, expected) = app.aggregates_and_recount().await;
    assert_eq!(stored, expected);
}
