//! The projection fed with a year of dossiers, and every figure the queries give back.

use fleuve_handler::{HandlerError, Projection};
use fleuve_mesh::Role;
use fleuve_proto::homologation::v1::{DossierStatus as S, EquipmentCategory as C};
use fleuve_proto::statistics::v1 as pb;
use fleuve_statistics::{Period, Settings, Statistics, StatisticsProjection, StatisticsQuery};
use fleuve_store::testing::TestDatabase;

use crate::support::{NOW, consumed, dossier_id, events, feed, principal, scenario, time};

on_both_backends!(
    figures_of_a_year_of_dossiers,
    a_period_selects_dossiers_by_submission,
    the_legal_deadline_is_a_setting,
    events_already_reflected_change_nothing,
    an_undecodable_payload_is_permanent_and_writes_nothing,
);

async fn fed(db: &TestDatabase) -> anyhow::Result<StatisticsProjection> {
    let projection = fleuve_statistics::projection();
    let p = projection.clone();
    feed(db.database(), &events(&scenario()), move |conn, e| p.apply(conn, e)).await?;
    Ok(projection)
}

async fn report(db: &TestDatabase, settings: Settings, period: Period) -> anyhow::Result<pb::GetStatisticsResponse> {
    let app = Statistics::new(db.database().clone(), settings);
    let query = StatisticsQuery { period, ..StatisticsQuery::default() };
    Ok(app.statistics(&principal(Role::Admin), query, time(NOW)).await?)
}

fn statuses(r: &pb::GetStatisticsResponse) -> Vec<(S, i64)> {
    r.dossiers.as_ref().unwrap().by_status.iter().map(|s| (s.status(), s.count)).collect()
}

fn months(r: &pb::GetStatisticsResponse) -> Vec<(i32, i32, i64)> {
    r.dossiers.as_ref().unwrap().by_month.iter().map(|m| (m.year, m.month, m.count)).collect()
}

/// (currency, invoices, payments, invoiced, collected, outstanding)
fn fees(r: &pb::GetStatisticsResponse) -> Vec<(String, i64, i64, i64, i64, i64)> {
    let amount = |m: &Option<fleuve_proto::common::v1::Money>| {
        let m = m.as_ref().unwrap();
        assert_eq!(m.currency, "XAF");
        m.amount
    };
    r.fees
        .iter()
        .map(|f| {
            (
                f.currency.clone(),
                f.invoices,
                f.payments,
                amount(&f.invoiced),
                amount(&f.collected),
                amount(&f.outstanding),
            )
        })
        .collect()
}

fn close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

async fn figures_of_a_year_of_dossiers(db: TestDatabase) -> anyhow::Result<()> {
    fed(&db).await?;
    let r = report(&db, Settings::default(), Period::all()).await?;
    assert_eq!(r.as_of.unwrap().seconds, time(NOW).timestamp());

    let dossiers = r.dossiers.as_ref().unwrap();
    assert_eq!(dossiers.total, 10);
    assert_eq!(
        statuses(&r),
        [
            (S::Draft, 1),
            (S::Submitted, 1),
            (S::Incomplete, 1),
            (S::UnderReview, 1),
            (S::Approved, 3),
            (S::Rejected, 2),
            (S::Withdrawn, 1)
        ]
    );
    let categories: Vec<_> = dossiers.by_category.iter().map(|c| (c.category(), c.count)).collect();
    assert_eq!(
        categories,
        [(C::MobileTerminal, 4), (C::RadioEquipment, 3), (C::NetworkEquipment, 2), (C::SatelliteTerminal, 1)]
    );
    // The draft was never submitted: it has no month.
    assert_eq!(months(&r), [(2025, 1, 2), (2025, 2, 2), (2025, 3, 2), (2025, 4, 1), (2025, 5, 1), (2025, 6, 1)]);

    // Decided: 40, 80, 30, 30 and 60 days.
    let p = r.processing.unwrap();
    assert_eq!(p.legal_deadline_days, 60);
    assert_eq!(p.decided, 5);
    close(p.average_days, 48.0);
    close(p.p90_days, 80.0);
    // Exactly 60 days is within the deadline.
    assert_eq!((p.decided_within_deadline, p.decided_beyond_deadline), (4, 1));
    // Open: #5 (119 days), #6 (29 days), #9 (56 days).
    assert_eq!((p.open, p.open_beyond_deadline), (3, 1));

    let d = r.decisions.clone().unwrap();
    assert_eq!((d.approved, d.rejected, d.withdrawn), (3, 2, 1));
    close(d.approval_rate, 0.6);
    close(d.rejection_rate, 0.4);
    let causes: Vec<_> = d.rejection_causes.iter().map(|c| (c.reason.as_str(), c.count)).collect();
    assert_eq!(causes, [("no test report", 2), ("incomplete technical datasheet", 1)]);
    assert_eq!(d.distinct_rejection_causes, 2);

    assert_eq!(fees(&r), [("XAF".to_owned(), 6, 4, 3_050_000, 1_550_000, 1_500_000)]);
    Ok(())
}

async fn a_period_selects_dossiers_by_submission(db: TestDatabase) -> anyhow::Result<()> {
    fed(&db).await?;
    // From #3's submission (inclusive) to #10's (exclusive): #3, #4, #5 and #7.
    let period = Period::new(Some(time("2025-02-05T09:00:00Z")), Some(time("2025-04-01T09:00:00Z")))?;
    let r = report(&db, Settings::default(), period).await?;
    assert_eq!(r.dossiers.as_ref().unwrap().total, 4);
    assert_eq!(
        statuses(&r),
        [
            (S::Draft, 0),
            (S::Submitted, 0),
            (S::Incomplete, 0),
            (S::UnderReview, 1),
            (S::Approved, 0),
            (S::Rejected, 2),
            (S::Withdrawn, 1)
        ]
    );
    assert_eq!(months(&r), [(2025, 2, 2), (2025, 3, 2)]);
    let p = r.processing.unwrap();
    assert_eq!((p.decided, p.decided_within_deadline, p.open, p.open_beyond_deadline), (2, 2, 1, 1));
    close(p.average_days, 30.0);
    close(p.p90_days, 30.0);
    let d = r.decisions.clone().unwrap();
    assert_eq!((d.approved, d.rejected, d.withdrawn), (0, 2, 1));
    close(d.rejection_rate, 1.0);
    assert_eq!(fees(&r), [("XAF".to_owned(), 2, 1, 1_250_000, 500_000, 750_000)]);

    // Open-ended: submitted from May on (#6 and #9), the draft left out.
    let r = report(&db, Settings::default(), Period::new(Some(time("2025-05-01T00:00:00Z")), None)?).await?;
    assert_eq!(r.dossiers.as_ref().unwrap().total, 2);
    assert_eq!(months(&r), [(2025, 5, 1), (2025, 6, 1)]);
    // Up to February: #1 and #2.
    let r = report(&db, Settings::default(), Period::new(None, Some(time("2025-02-01T00:00:00Z")))?).await?;
    assert_eq!(r.decisions.unwrap().approved, 2);
    // A period with nothing in it.
    let r = report(
        &db,
        Settings::default(),
        Period::new(Some(time("2024-01-01T00:00:00Z")), Some(time("2024-12-31T00:00:00Z")))?,
    )
    .await?;
    assert_eq!(r.dossiers.as_ref().unwrap().total, 0);
    assert!(months(&r).is_empty() && r.fees.is_empty());
    Ok(())
}

async fn the_legal_deadline_is_a_setting(db: TestDatabase) -> anyhow::Result<()> {
    fed(&db).await?;
    let r = report(&db, Settings { legal_deadline_days: 45 }, Period::all()).await?;
    let p = r.processing.unwrap();
    assert_eq!(p.legal_deadline_days, 45);
    // 30, 30, 40 within; 60, 80 beyond. Open since before 2025-05-16 12:00: #5 and #9.
    assert_eq!((p.decided_within_deadline, p.decided_beyond_deadline), (3, 2));
    assert_eq!((p.open, p.open_beyond_deadline), (3, 2));
    Ok(())
}

async fn events_already_reflected_change_nothing(db: TestDatabase) -> anyhow::Result<()> {
    let projection = fed(&db).await?;
    let p = projection.clone();
    let before = db.database().run(move |conn| p.rows(conn)).await?;
    let figures = report(&db, Settings::default(), Period::all()).await?;

    // A redelivery of everything, and an old version carrying a different event.
    let p = projection.clone();
    feed(db.database(), &events(&scenario()), move |conn, e| p.apply(conn, e)).await?;
    let stale = consumed(&dossier_id(6), 1, time("2025-06-20T00:00:00Z"), withdrawal());
    let p = projection.clone();
    feed(db.database(), &[stale], move |conn, e| p.apply(conn, e)).await?;

    let p = projection.clone();
    let after = db.database().run(move |conn| p.rows(conn)).await?;
    assert_eq!(after, before);
    assert_eq!(report(&db, Settings::default(), Period::all()).await?, figures);

    // The next version does apply: #6 (submitted, version 2) is withdrawn.
    let next = consumed(&dossier_id(6), 3, time("2025-06-20T00:00:00Z"), withdrawal());
    let p = projection.clone();
    feed(db.database(), &[next], move |conn, e| p.apply(conn, e)).await?;
    let r = report(&db, Settings::default(), Period::all()).await?;
    assert_eq!(r.decisions.unwrap().withdrawn, 2);
    assert_eq!(r.processing.unwrap().open, 2);
    Ok(())
}

fn withdrawal() -> fleuve_proto::homologation::v1::dossier_event::Event {
    fleuve_proto::homologation::v1::dossier_event::Event::Withdrawn(fleuve_proto::homologation::v1::DossierWithdrawn {
        reason: "late".into(),
    })
}

async fn an_undecodable_payload_is_permanent_and_writes_nothing(db: TestDatabase) -> anyhow::Result<()> {
    let projection = fleuve_statistics::projection();
    let mut event = events(&scenario()).remove(0);
    event.payload = vec![0x0a, 0xff];
    let p = projection.clone();
    let error = feed(db.database(), &[event], move |conn, e| p.apply(conn, e)).await.unwrap_err();
    assert!(matches!(error, HandlerError::Permanent(_)), "{error:?}");
    let p = projection.clone();
    assert!(db.database().run(move |conn| p.rows(conn)).await?.is_empty());
    Ok(())
}
