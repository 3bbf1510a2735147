//! The certificate's life: issue, suspend, reinstate, revoke, renew, expire.

use fleuve_proto::homologation::v1 as pb;
use pb::CertificateStatus as Status;
use pb::certificate_event::Event;

use super::*;
use crate::domain::certificate::CertificateCommand as C;

fn cert_event(e: Event) -> pb::CertificateEvent {
    pb::CertificateEvent { occurred_at: Some(timestamp(now())), event: Some(e) }
}

fn issue() -> C {
    C::Issue {
        number: CERTIFICATE_NUMBER.into(),
        dossier_id: DOSSIER_ID.into(),
        organisation_id: "org-congo-telecom".into(),
        equipment: equipment(),
        valid_from: now(),
        valid_until: at(2031, 3, 10),
    }
}

/// Issued now, valid five years.
fn issued() -> pb::CertificateEvent {
    cert_event(Event::Issued(pb::CertificateIssued {
        certificate_number: CERTIFICATE_NUMBER.into(),
        dossier_id: DOSSIER_ID.into(),
        organisation_id: "org-congo-telecom".into(),
        equipment: Some(equipment()),
        valid_from: Some(timestamp(now())),
        valid_until: Some(timestamp(at(2031, 3, 10))),
    }))
}

fn suspended() -> pb::CertificateEvent {
    cert_event(Event::Suspended(pb::CertificateSuspended { reason: "interference reports".into() }))
}

fn revoked() -> pb::CertificateEvent {
    cert_event(Event::Revoked(pb::CertificateRevoked { reason: "falsified test report".into() }))
}

fn expired() -> pb::CertificateEvent {
    cert_event(Event::Expired(pb::CertificateExpired {}))
}

fn renewed(until: chrono::DateTime<chrono::Utc>) -> pb::CertificateEvent {
    cert_event(Event::Renewed(pb::CertificateRenewed { valid_until: Some(timestamp(until)) }))
}

/// An event as if it happened at `at`, for the timing rules.
fn stamped(mut e: pb::CertificateEvent, when: chrono::DateTime<chrono::Utc>) -> pb::CertificateEvent {
    e.occurred_at = Some(timestamp(when));
    e
}

// ---- issue ----

#[test]
fn an_approved_dossier_issues_an_active_certificate() {
    let state = given_certificate(&[]).when(issue()).then(&[issued()]);
    assert_eq!(state.status, Status::Active);
    assert_eq!(state.number, CERTIFICATE_NUMBER);
    assert_eq!(state.version, 1);
    assert!(state.is_valid_at(now()));
    assert!(!state.is_valid_at(at(2031, 3, 10)));
    assert!(!state.is_valid_at(at(2026, 3, 9)));
}

#[test]
fn a_certificate_is_issued_once_with_a_valid_number_and_period() {
    given_certificate(&[issued()]).when(issue()).then_err(precondition("certificate already issued"));
    let C::Issue { dossier_id, organisation_id, equipment, valid_from, .. } = issue() else { unreachable!() };
    let backwards = C::Issue {
        number: CERTIFICATE_NUMBER.into(),
        dossier_id: dossier_id.clone(),
        organisation_id: organisation_id.clone(),
        equipment: equipment.clone(),
        valid_from,
        valid_until: valid_from,
    };
    given_certificate(&[]).when(backwards).then_err(invalid("validity must end after it starts"));
    let bad_number = C::Issue {
        number: "ARPCE-HOM-2026-42".into(),
        dossier_id,
        organisation_id,
        equipment,
        valid_from,
        valid_until: at(2031, 3, 10),
    };
    given_certificate(&[]).when(bad_number).then_err(invalid("certificate number must look like"));
}

#[test]
fn commands_on_a_missing_certificate_are_refused() {
    given_certificate(&[]).when(C::Expire).then_err(precondition("certificate does not exist"));
}

// ---- suspend, reinstate, revoke ----

#[test]
fn an_active_certificate_is_suspended_with_a_reason() {
    let state = given_certificate(&[issued()])
        .when(C::Suspend { reason: " interference reports ".into() })
        .then(&[suspended()]);
    assert_eq!(state.status, Status::Suspended);
    assert_eq!(state.status_reason, "interference reports");
    assert!(!state.is_valid_at(now()));
}

#[test]
fn suspension_needs_an_active_certificate_and_a_reason() {
    given_certificate(&[issued(), suspended()])
        .when(C::Suspend { reason: "again".into() })
        .then_err(precondition("cannot suspend a certificate that is suspended"));
    given_certificate(&[issued()]).when(C::Suspend { reason: String::new() }).then_err(invalid("reason is required"));
    given_certificate(&[issued()])
        .when(C::Suspend { reason: "x".repeat(1001) })
        .then_err(invalid("reason must be at most 1000 characters"));
}

#[test]
fn a_suspended_certificate_is_reinstated_within_its_validity() {
    let reinstated = cert_event(Event::Reinstated(pb::CertificateReinstated { note: "cleared".into() }));
    let state =
        given_certificate(&[issued(), suspended()]).when(C::Reinstate { note: "cleared".into() }).then(&[reinstated]);
    assert_eq!(state.status, Status::Active);
    assert!(state.is_valid_at(now()));
}

#[test]
fn reinstatement_is_refused_when_not_suspended_or_past_validity() {
    given_certificate(&[issued()])
        .when(C::Reinstate { note: String::new() })
        .then_err(precondition("cannot reinstate a certificate that is active"));
    given_certificate(&[issued(), suspended()])
        .when_at(C::Reinstate { note: String::new() }, at(2031, 3, 10))
        .then_err(precondition("certificate validity has ended: expire it instead"));
}

#[test]
fn revocation_is_final() {
    let revoke = || C::Revoke { reason: "falsified test report".into() };
    let state = given_certificate(&[issued(), suspended()]).when(revoke()).then(&[revoked()]);
    assert_eq!(state.status, Status::Revoked);
    given_certificate(&[issued()]).when(revoke()).then(&[revoked()]);
    let gone = [issued(), revoked()];
    given_certificate(&gone).when(revoke()).then_err(precondition("that is revoked"));
    given_certificate(&gone).when(C::Reinstate { note: String::new() }).then_err(precondition("that is revoked"));
    given_certificate(&gone)
        .when(C::Renew { validity_years: 5 })
        .then_err(precondition("cannot renew a certificate that is revoked"));
    given_certificate(&gone).when_at(C::Expire, at(2032, 1, 1)).then_err(precondition("that is revoked"));
    given_certificate(&[issued()]).when(C::Revoke { reason: " ".into() }).then_err(invalid("reason is required"));
    given_certificate(&[issued(), expired()]).when(revoke()).then_err(precondition("that is expired"));
}

// ---- renew ----

#[test]
fn early_renewal_extends_from_the_current_end() {
    let state = given_certificate(&[issued()]).when(C::Renew { validity_years: 5 }).then(&[renewed(at(2036, 3, 10))]);
    assert_eq!(state.valid_until, Some(timestamp(at(2036, 3, 10))));
    assert_eq!(state.status, Status::Active);
}

#[test]
fn late_renewal_of_an_expired_certificate_extends_from_now() {
    let later = at(2032, 6, 1);
    let state = given_certificate(&[issued(), stamped(expired(), at(2031, 3, 10))])
        .when_at(C::Renew { validity_years: 2 }, later)
        .then(&[stamped(renewed(at(2034, 6, 1)), later)]);
    assert_eq!(state.status, Status::Active);
    assert!(state.is_valid_at(later));
}

#[test]
fn renewal_refuses_suspended_certificates_and_bad_validity() {
    given_certificate(&[issued(), suspended()])
        .when(C::Renew { validity_years: 5 })
        .then_err(precondition("cannot renew a certificate that is suspended"));
    for years in [0, 11] {
        given_certificate(&[issued()])
            .when(C::Renew { validity_years: years })
            .then_err(invalid("validity must be between 1 and 10 years"));
    }
}

// ---- expire ----

#[test]
fn a_certificate_expires_at_the_end_of_its_validity() {
    let end = at(2031, 3, 10);
    let state = given_certificate(&[issued()]).when_at(C::Expire, end).then(&[stamped(expired(), end)]);
    assert_eq!(state.status, Status::Expired);
    given_certificate(&[issued(), suspended()]).when_at(C::Expire, end).then(&[stamped(expired(), end)]);
}

#[test]
fn a_valid_certificate_does_not_expire() {
    given_certificate(&[issued()]).when(C::Expire).then_err(precondition("certificate still valid until 2031-03-10"));
    given_certificate(&[issued(), expired()])
        .when_at(C::Expire, at(2032, 1, 1))
        .then_err(precondition("cannot expire a certificate that is expired"));
}

// ---- replay and names ----

#[test]
fn a_certificate_replays_to_its_state() {
    let events = [issued(), suspended(), revoked()];
    let state = Certificate::replay(events.iter());
    assert_eq!(
        state,
        Certificate {
            number: CERTIFICATE_NUMBER.into(),
            dossier_id: DOSSIER_ID.into(),
            organisation_id: "org-congo-telecom".into(),
            equipment: Some(equipment()),
            status: Status::Revoked,
            valid_from: Some(timestamp(now())),
            valid_until: Some(timestamp(at(2031, 3, 10))),
            status_reason: "falsified test report".into(),
            version: 3,
        }
    );
    let names: Vec<_> = [
        issued(),
        suspended(),
        cert_event(Event::Reinstated(Default::default())),
        revoked(),
        renewed(now()),
        expired(),
    ]
    .iter()
    .map(|e| e.event_type())
    .collect();
    assert_eq!(
        names,
        [
            "CertificateIssued",
            "CertificateSuspended",
            "CertificateReinstated",
            "CertificateRevoked",
            "CertificateRenewed",
            "CertificateExpired"
        ]
    );
}
