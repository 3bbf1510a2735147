//! Unit tests of the edges of the application layer: every error's gRPC code and saga
//! disposition, and the page tokens.

use fleuve_aggregate::IsConflict as _;
use fleuve_handler::HandlerError;
use fleuve_mesh::ServiceError;
use fleuve_store::StoreError;
use tonic::Code;

use super::queries::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use super::{AppError, Listing, PageRequest};
use crate::domain::DomainError;

fn code(error: AppError) -> (Code, String) {
    let status = tonic::Status::from(error);
    (status.code(), status.message().to_owned())
}

fn unique_violation() -> diesel::result::Error {
    diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::UniqueViolation,
        Box::new("duplicate key value violates unique constraint".to_owned()),
    )
}

#[test]
fn each_error_maps_to_one_grpc_code_with_its_message() {
    let conflict = StoreError::Conflict { stream_id: "account-c-1".into(), expected: 2, actual: 3 };
    let cases = [
        (AppError::Domain(DomainError::Invalid("amount must be positive".into())), Code::InvalidArgument),
        (
            AppError::Domain(DomainError::Precondition("account of c-1 is already open".into())),
            Code::FailedPrecondition,
        ),
        (AppError::Domain(DomainError::NotFound("no account for customer c-9".into())), Code::NotFound),
        (AppError::Store(conflict), Code::Aborted),
        (AppError::Database(unique_violation()), Code::Aborted),
        (AppError::Service(ServiceError::denied("this action needs the role admin")), Code::PermissionDenied),
        (AppError::Service(ServiceError::invalid("page_token is bad")), Code::InvalidArgument),
        (AppError::Database(diesel::result::Error::NotFound), Code::Internal),
        // The database unreachable: worth a retry, not a bug.
        (AppError::Store(StoreError::Connect("refused".into())), Code::Unavailable),
    ];
    for (error, expected) in cases {
        let shown = error.to_string();
        let (actual, message) = code(error);
        assert_eq!(actual, expected, "{shown}");
        if expected == Code::Internal {
            assert_eq!(message, "internal error", "causes are logged, not sent");
        } else if expected == Code::Unavailable {
            assert_eq!(message, "the database is unavailable; retry", "causes are logged, not sent");
        } else if expected != Code::Aborted {
            assert_eq!(message, shown);
        }
    }
    let (_, message) = code(AppError::Store(StoreError::Conflict { stream_id: "s".into(), expected: 2, actual: 3 }));
    assert_eq!(message, "s changed concurrently: expected version 2, found 3; reload and retry");
}

#[test]
fn refusals_are_parked_and_races_retried_by_the_saga_consumer() {
    let permanent = [
        AppError::Domain(DomainError::Invalid("saga step is missing".into())),
        AppError::Domain(DomainError::Precondition("charge of order o-1 cannot answer saga o-2".into())),
        AppError::Domain(DomainError::NotFound("no charge".into())),
        AppError::Decode(
            <fleuve_proto::billing::v1::ChargeEvent as prost::Message>::decode(&[0xff_u8][..]).unwrap_err(),
        ),
    ];
    for error in permanent {
        assert!(matches!(HandlerError::from(error), HandlerError::Permanent(_)));
    }
    // A lost race is retried at once on fresh state; other database trouble with backoff.
    let conflict = AppError::Store(StoreError::Conflict { stream_id: "charge-o-1".into(), expected: 0, actual: 1 });
    assert!(matches!(HandlerError::from(conflict), HandlerError::Conflict(_)));
    assert!(matches!(HandlerError::from(AppError::Database(unique_violation())), HandlerError::Transient(_)));
    // An unreachable database is waited out, never held against the record.
    let unavailable = AppError::Store(StoreError::Connect("refused".into()));
    assert!(matches!(HandlerError::from(unavailable), HandlerError::Unavailable(_)));
}

#[test]
fn only_lost_races_are_conflicts() {
    assert!(AppError::Store(StoreError::Conflict { stream_id: "s".into(), expected: 0, actual: 1 }).is_conflict());
    assert!(AppError::Database(unique_violation()).is_conflict());
    assert!(!AppError::Domain(DomainError::Precondition("x".into())).is_conflict());
    assert!(!AppError::Database(diesel::result::Error::NotFound).is_conflict());
}

#[test]
fn page_sizes_default_fit_and_are_refused_past_the_maximum_or_negative() {
    let size = |n| PageRequest::parse(Listing::Charges, n, "").map(|p| p.size);
    assert_eq!(size(0).unwrap(), DEFAULT_PAGE_SIZE);
    assert_eq!(size(7).unwrap(), 7);
    assert_eq!(size(100).unwrap(), MAX_PAGE_SIZE);
    let refused = size(1_000).unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(refused.to_string(), "page_size must be between 1 and 100, got 1000");
    let refused = size(-1).unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(refused.to_string(), "page_size must be between 1 and 100, got -1");
}

#[test]
fn page_tokens_round_trip_and_belong_to_one_listing() {
    use base64::Engine as _;
    let encode = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let token = encode("charges:42");
    assert_eq!(PageRequest::parse(Listing::Charges, 10, &token).unwrap().before, Some(42));
    let bad = [
        "not base64!".to_owned(),
        encode("charges:"),
        encode("charges:-4"),
        encode("charges:+4"),
        encode("charges:0"),
        encode("charges:99999999999999999999"),
        encode("42"),
        encode("refunds:42"),
    ];
    for token in bad {
        let refused = PageRequest::parse(Listing::Charges, 10, &token).unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{token}");
        assert_eq!(refused.to_string(), "page_token is not a token this server issued for this listing");
    }
    assert!(PageRequest::parse(Listing::Refunds, 10, &encode("refunds:42")).is_ok());
}
