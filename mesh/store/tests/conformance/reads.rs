//! Reading the global log: position order across streams, paging, per-type slices.

use fleuve_store::event_store::{self, ExpectedVersion, RecordedEvent, StreamRef};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{Database, StoreError};

use crate::support::{append, stream};

async fn read_all(db: &Database, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
    db.run(move |conn| event_store::read_all(conn, after, limit)).await
}

pub async fn positions_increase_across_streams(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    let names = ["a", "b", "c"];
    let mut appended = Vec::new();
    for round in 0..3 {
        for name in names {
            let expected = if round == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(round * 2) };
            let outcome = append(db, &stream(name), expected, 2, None).await?;
            appended.push((stream(name).stream_id(), outcome.first_position.unwrap()));
        }
    }
    let all = read_all(db, 0, 1000).await?;
    assert_eq!(all.len(), 18);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position), "strictly increasing");
    // The log lists appends in the order they committed.
    let firsts: Vec<(String, i64)> =
        all.iter().filter(|e| e.version % 2 == 1).map(|e| (e.stream_id.clone(), e.position)).collect();
    assert_eq!(firsts, appended);
    Ok(())
}

pub async fn read_all_pages(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    for i in 0..5 {
        append(db, &stream(&format!("page-{i}")), ExpectedVersion::NoStream, 5, None).await?;
    }
    let everything = read_all(db, 0, 100).await?;
    assert_eq!(everything.len(), 25);

    let (mut after, mut paged, mut sizes) = (0, Vec::new(), Vec::new());
    loop {
        let page = read_all(db, after, 10).await?;
        sizes.push(page.len());
        let Some(last) = page.last() else { break };
        after = last.position;
        paged.extend(page);
    }
    assert_eq!(sizes, [10, 10, 5, 0]);
    assert_eq!(paged, everything);
    assert!(read_all(db, everything[24].position, 10).await?.is_empty());
    assert_eq!(read_all(db, everything[9].position, 3).await?, everything[10..13]);
    Ok(())
}

pub async fn read_by_type_filters(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    for i in 0..3 {
        append(db, &StreamRef::new("account", i.to_string()), ExpectedVersion::NoStream, 2, None).await?;
        append(db, &StreamRef::new("dossier", i.to_string()), ExpectedVersion::NoStream, 1, None).await?;
    }
    let dossiers = db.run(|conn| event_store::read_by_type(conn, "dossier", 0, 100)).await?;
    assert_eq!(dossiers.len(), 3);
    assert!(dossiers.iter().all(|e| e.aggregate_type == "dossier" && e.stream_id.starts_with("dossier-")));
    let after = dossiers[0].position;
    let rest = db.run(move |conn| event_store::read_by_type(conn, "dossier", after, 1)).await?;
    assert_eq!(rest, dossiers[1..2]);
    let accounts = db.run(|conn| event_store::read_by_type(conn, "account", 0, 100)).await?;
    assert_eq!(accounts.len(), 6);
    Ok(())
}
