//! The inbox claim: an event is claimed once per consumer, and a key with a parked dead letter
//! claims nothing until that letter is resolved.

use std::sync::Arc;

use fleuve_store::StoreError;
use fleuve_store::consumer::{
    DeadLetterStatus, InboxClaim, InboxEntry, NewDeadLetter, dead_letter_park, dead_letter_resolve, inbox_claim,
    inbox_contains, inbox_count, inbox_prune, inbox_record,
};
use fleuve_store::testing::TestDatabase;

use crate::support::pool_for;

fn entry<'a>(consumer: &'a str, event_id: &'a str) -> InboxEntry<'a> {
    InboxEntry { consumer, event_id, topic: "orders", partition: 0, offset: 7 }
}

async fn claim(
    db: &fleuve_store::Database,
    consumer: &'static str,
    event_id: &'static str,
    key: Option<&'static str>,
) -> Result<InboxClaim, StoreError> {
    db.transaction(move |conn| inbox_claim(conn, &entry(consumer, event_id), key)).await
}

/// Parks the record at `offset` of partition 0 of "orders"; its letter's id.
async fn park(db: &fleuve_store::Database, consumer: &str, key: Option<&str>, offset: i64) -> Result<i64, StoreError> {
    let letter = NewDeadLetter {
        consumer: consumer.into(),
        topic: "orders".into(),
        offset,
        event_id: Some(format!("event-{offset}")),
        key: key.map(str::to_owned),
        headers: "{}".into(),
        error: "poison".into(),
        attempts: 1,
        ..NewDeadLetter::default()
    };
    Ok(db.transaction(move |conn| dead_letter_park(conn, &letter)).await?.0)
}

pub async fn inbox_claims_once_and_waits_behind_parked_keys(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    assert_eq!(claim(db, "stats", "e1", Some("k1")).await?, InboxClaim::Claimed);
    assert_eq!(claim(db, "stats", "e1", Some("k1")).await?, InboxClaim::Seen, "a redelivery is seen");
    assert_eq!(claim(db, "notify", "e1", Some("k1")).await?, InboxClaim::Claimed, "consumers are independent");

    let parked = park(db, "stats", Some("k2"), 1).await?;
    let later = park(db, "stats", Some("k2"), 2).await?;
    assert_eq!(park(db, "stats", Some("k2"), 2).await?, later, "a record parked again keeps its letter");
    let keyless = park(db, "stats", None, 3).await?;
    // A record that could not be decoded has no event id: known by its place, key and bytes.
    let undecoded = |key: Option<&str>, value: &[u8]| NewDeadLetter {
        consumer: "stats".into(),
        topic: "orders".into(),
        offset: 9,
        key: key.map(str::to_owned),
        value: Some(value.to_vec()),
        headers: "{}".into(),
        error: "not a Confluent protobuf frame".into(),
        attempts: 1,
        ..NewDeadLetter::default()
    };
    let park_undecoded = |letter: NewDeadLetter| db.transaction(move |conn| dead_letter_park(conn, &letter));
    let (junk, new) = park_undecoded(undecoded(Some("junk"), b"garbage")).await?;
    assert!(new);
    assert_eq!(
        park_undecoded(undecoded(Some("junk"), b"garbage")).await?,
        (junk, false),
        "an undecodable record parked again keeps its letter"
    );
    let (other, new) = park_undecoded(undecoded(Some("junk"), b"other bytes")).await?;
    assert!(new && other != junk, "other bytes at the same place are another record");
    // Without a key, and a tombstone (no value): absent matches absent only.
    let keyless_tombstone = || NewDeadLetter { key: None, value: None, ..undecoded(None, b"") };
    let (tombstone, new) = park_undecoded(keyless_tombstone()).await?;
    assert!(new && tombstone != junk && tombstone != other);
    assert_eq!(park_undecoded(keyless_tombstone()).await?, (tombstone, false), "a keyless tombstone again");
    let (keyless_bytes, new) = park_undecoded(undecoded(None, b"garbage")).await?;
    assert!(new && keyless_bytes != junk, "the same bytes without the key are another record");
    for id in [junk, other, tombstone, keyless_bytes] {
        assert!(db.run(move |conn| dead_letter_resolve(conn, id, DeadLetterStatus::Discarded, "test")).await?);
    }
    assert_eq!(claim(db, "stats", "e2", Some("k2")).await?, InboxClaim::Blocked(parked), "the oldest letter blocks");
    assert!(!db.run(|conn| inbox_contains(conn, "stats", "e2")).await?, "a blocked claim writes nothing");
    assert_eq!(claim(db, "notify", "e2", Some("k2")).await?, InboxClaim::Claimed, "only the letter's consumer");
    assert_eq!(claim(db, "stats", "e3", Some("k3")).await?, InboxClaim::Claimed, "other keys flow");
    assert_eq!(claim(db, "stats", "e4", None).await?, InboxClaim::Blocked(keyless), "keyless waits behind keyless");

    for id in [parked, later, keyless] {
        assert!(db.run(move |conn| dead_letter_resolve(conn, id, DeadLetterStatus::Redriven, "test")).await?);
    }
    assert_eq!(claim(db, "stats", "e2", Some("k2")).await?, InboxClaim::Claimed, "resolved letters block nothing");
    assert_eq!(claim(db, "stats", "e4", None).await?, InboxClaim::Claimed);
    assert_eq!(db.run(|conn| inbox_count(conn, "stats")).await?, 4);

    // inbox_record: the claim without the dead-letter check.
    let blocked = park(db, "stats", Some("k5"), 5).await?;
    assert!(blocked > 0);
    assert!(db.transaction(|conn| inbox_record(conn, &entry("stats", "e5"))).await?);
    assert!(!db.transaction(|conn| inbox_record(conn, &entry("stats", "e5"))).await?);
    Ok(())
}

/// Two deliveries of one event claimed at once: exactly one claims it, the other sees it, and
/// neither transaction fails.
pub async fn concurrent_claims_of_one_event(test: TestDatabase) -> anyhow::Result<()> {
    let db = Arc::new(pool_for(&test, 8)?);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move { claim(&db, "stats", "raced", Some("k")).await }));
    }
    let mut claimed = 0;
    for task in tasks {
        match task.await?? {
            InboxClaim::Claimed => claimed += 1,
            InboxClaim::Seen => {}
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }
    assert_eq!(claimed, 1);
    assert_eq!(db.run(|conn| inbox_count(conn, "stats")).await?, 1);
    Ok(())
}

/// Pruning takes the rows past the retention (processed and recorded before the cut, by the
/// v7 event id), at most `limit` at a time, of the named consumer only; it keeps a row of an
/// old event processed recently (a redrive, a rebuild) and ids that are not v7.
pub async fn inbox_prunes_rows_past_the_retention_only(test: TestDatabase) -> anyhow::Result<()> {
    use chrono::{Duration, Utc};
    use diesel::prelude::*;
    use fleuve_store::schema::inbox;

    let db = test.database();
    let now = Utc::now();
    let days_ago = |days: i64| now - Duration::days(days);
    let v7 = |at: chrono::DateTime<Utc>| {
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, at.timestamp() as u64, at.timestamp_subsec_nanos());
        uuid::Uuid::new_v7(ts).to_string()
    };
    // (consumer, event id, processed days ago)
    let rows = vec![
        ("stats", v7(days_ago(10)), 10),
        ("stats", v7(days_ago(9)), 9),
        ("stats", v7(days_ago(8)), 8),
        ("stats", v7(days_ago(10)), 0), // an old event applied today (a redrive)
        ("stats", v7(days_ago(1)), 1),
        ("stats", "zz-not-a-v7-id".to_owned(), 10),
        ("notify", v7(days_ago(10)), 10),
    ];
    for (consumer, event_id, days) in rows.clone() {
        let at = days_ago(days).naive_utc();
        db.transaction(move |conn| -> Result<(), StoreError> {
            assert!(inbox_record(conn, &entry(consumer, &event_id))?);
            diesel::update(inbox::table.filter(inbox::consumer.eq(consumer)).filter(inbox::event_id.eq(&event_id)))
                .set(inbox::processed_at.eq(at))
                .execute(conn)?;
            Ok(())
        })
        .await?;
    }
    let cut = days_ago(7);
    assert_eq!(db.run(move |conn| inbox_prune(conn, "stats", cut, 2)).await?, 2, "at most the limit");
    assert_eq!(db.run(move |conn| inbox_prune(conn, "stats", cut, 2)).await?, 1);
    assert_eq!(db.run(move |conn| inbox_prune(conn, "stats", cut, 2)).await?, 0);
    let (_, redriven, _) = &rows[3];
    let (_, recent, _) = &rows[4];
    for kept in [redriven.clone(), recent.clone(), "zz-not-a-v7-id".to_owned()] {
        assert!(db.run(move |conn| inbox_contains(conn, "stats", &kept)).await?);
    }
    assert_eq!(db.run(|conn| inbox_count(conn, "stats")).await?, 3);
    assert_eq!(db.run(|conn| inbox_count(conn, "notify")).await?, 1, "another consumer's rows stay");
    Ok(())
}
