//! The durable scheduler: certificate expiry reminders live in a table, written by the
//! projection and fired by a periodic task. Nothing is held in memory, so a restart forgets
//! nothing: a reminder that fell due while the service was down fires at the next round.

use fleuve_aggregate::AppError;
use std::future::Future;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use fleuve_store::{Database, DbConnection};
use tokio::task::JoinHandle;

use super::{Notifications, parties, store};
use crate::domain::{Channel, Reminder, messages};
use crate::schema::notification_reminders as reminders;
use crate::time;

/// Reminders handled per transaction.
const BATCH: i64 = 100;

/// What one call of [`fire_due`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FiredReminders {
    /// Notifications created, one per reminder fired.
    pub notifications: Vec<i64>,
    /// Reminders found due only after their certificate's end of validity (the service was
    /// down past it): closed without a notification, since the warning would come too late.
    pub lapsed: usize,
}

/// Schedules the 60- and 30-day reminders of a certificate valid until `valid_until`, unless
/// they exist (fired, cancelled or not): replaying the event schedules nothing new.
pub(crate) fn schedule(
    conn: &mut DbConnection,
    certificate_number: &str,
    valid_until: DateTime<Utc>,
) -> Result<(), AppError> {
    let until = time::naive(valid_until);
    for reminder in Reminder::ALL {
        let exists =
            reminders::table.find((certificate_number, reminder.kind(), until)).count().get_result::<i64>(conn)? > 0;
        if !exists {
            diesel::insert_into(reminders::table)
                .values((
                    reminders::certificate_number.eq(certificate_number),
                    reminders::kind.eq(reminder.kind()),
                    reminders::valid_until.eq(until),
                    reminders::due_at.eq(time::naive(reminder.due_at(valid_until))),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Cancels the certificate's reminders that have not fired, except those for `keep` (the new end
/// of validity of a renewal). Returns how many were cancelled.
pub(crate) fn cancel_open(
    conn: &mut DbConnection,
    certificate_number: &str,
    keep: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Result<usize, AppError> {
    let open = reminders::table
        .filter(reminders::certificate_number.eq(certificate_number))
        .filter(reminders::fired_at.is_null())
        .filter(reminders::cancelled_at.is_null());
    let cancelled = match keep {
        Some(keep) => diesel::update(open.filter(reminders::valid_until.ne(time::naive(keep))))
            .set(reminders::cancelled_at.eq(Some(time::naive(at))))
            .execute(conn)?,
        None => diesel::update(open).set(reminders::cancelled_at.eq(Some(time::naive(at)))).execute(conn)?,
    };
    Ok(cancelled)
}

/// Fires every reminder due at `now` (`due_at <= now`, neither fired nor cancelled): for each,
/// ONE transaction records the notification, its deliveries through `channels`, and marks the
/// reminder fired. A second call at the same time fires nothing; two schedulers racing on
/// the same database fire each reminder once (the fired mark is a conditional update).
pub async fn fire_due(db: &Database, channels: &[Channel], now: DateTime<Utc>) -> Result<FiredReminders, AppError> {
    let mut total = FiredReminders::default();
    loop {
        let channels = channels.to_vec();
        let (fired, seen) = db.transaction(move |conn| fire_batch(conn, &channels, now)).await?;
        total.notifications.extend(fired.notifications);
        total.lapsed += fired.lapsed;
        if seen < BATCH as usize {
            return Ok(total);
        }
    }
}

type ReminderKey = (String, String, NaiveDateTime);

fn fire_batch(
    conn: &mut DbConnection,
    channels: &[Channel],
    now: DateTime<Utc>,
) -> Result<(FiredReminders, usize), AppError> {
    let at = time::naive(now);
    let due: Vec<ReminderKey> = reminders::table
        .filter(reminders::due_at.le(at))
        .filter(reminders::fired_at.is_null())
        .filter(reminders::cancelled_at.is_null())
        .order((reminders::due_at, reminders::certificate_number, reminders::kind))
        .limit(BATCH)
        .select((reminders::certificate_number, reminders::kind, reminders::valid_until))
        .load(conn)?;
    let mut fired = FiredReminders::default();
    for (number, kind, valid_until) in &due {
        let open = reminders::table
            .find((number, kind, valid_until))
            .filter(reminders::fired_at.is_null())
            .filter(reminders::cancelled_at.is_null());
        let party = parties::find_certificate(conn, number)?;
        let reminder = Reminder::from_kind(kind);
        let (Some(party), Some(reminder)) = (party, reminder) else {
            tracing::warn!(certificate = %number, kind = %kind, "reminder without a known certificate or kind, cancelled");
            diesel::update(open).set(reminders::cancelled_at.eq(Some(at))).execute(conn)?;
            continue;
        };
        if *valid_until <= at {
            fired.lapsed += diesel::update(open).set(reminders::cancelled_at.eq(Some(at))).execute(conn)?;
            continue;
        }
        // Taking the reminder first: on PostgreSQL a racing scheduler waits on this row and
        // then finds it fired.
        if diesel::update(open).set(reminders::fired_at.eq(Some(at))).execute(conn)? == 0 {
            continue;
        }
        // The notification states the end of validity the reminder was scheduled for.
        let party = messages::CertificateParty { valid_until: time::utc(*valid_until), ..party };
        let source_id = format!("reminder:{number}@{}", time::utc(*valid_until).to_rfc3339());
        let new = messages::certificate_expiring(&source_id, &party, reminder);
        if let Some(id) = store::record(conn, &new, channels, now)? {
            diesel::update(reminders::table.find((number, kind, valid_until)))
                .set(reminders::notification_id.eq(Some(id)))
                .execute(conn)?;
            fired.notifications.push(id);
        }
    }
    Ok((fired, due.len()))
}

impl Notifications {
    /// Starts the scheduler: fires due reminders now and then every `scheduler_interval`, until
    /// `shutdown` resolves.
    pub fn spawn_scheduler(&self, shutdown: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(app.settings.scheduler_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    () = &mut shutdown => break,
                    _ = tick.tick() => {}
                }
                match app.fire_due(Utc::now()).await {
                    Ok(fired) if !fired.notifications.is_empty() || fired.lapsed > 0 => {
                        tracing::info!(fired = fired.notifications.len(), lapsed = fired.lapsed, "reminders fired");
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(error = %error, "firing reminders failed"),
                }
            }
            tracing::debug!("reminder scheduler stopped");
        })
    }
}
