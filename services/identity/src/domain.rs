//! Identity's vocabulary: validated values built by parsing, the records the service hands
//! out. Refusals are the mesh's one [`DomainError`], mapped to gRPC status codes in one place.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use fleuve_aggregate::{DomainError, Violations};
use fleuve_mesh::Role;
use fleuve_mesh::page::PageSize;

pub const EMAIL_MAX_CHARS: usize = 254;
pub const NAME_MAX_CHARS: usize = 200;
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 128;
pub const REGISTRATION_NUMBER_MAX_CHARS: usize = 64;
pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 100;

/// A required field left empty: refused against the request field `field`.
pub(crate) fn required(field: &str) -> DomainError {
    DomainError::invalid_field(field, format!("{field} is required"))
}

/// A malformed field: `"{field} {reason}"` against the request field `field`.
pub(crate) fn invalid(field: &str, reason: impl fmt::Display) -> DomainError {
    DomainError::invalid_field(field, format!("{field} {reason}"))
}

/// The organisation a request names does not exist (NOT_FOUND).
pub(crate) fn unknown_organisation(organisation_id: &str) -> DomainError {
    DomainError::NotFound(format!("unknown organisation {organisation_id}"))
}

/// Emails are unique (ALREADY_EXISTS).
pub(crate) fn email_taken(email: &str) -> DomainError {
    DomainError::AlreadyExists(format!("a user with email {email} already exists"))
}

/// Registration numbers are unique (ALREADY_EXISTS).
pub(crate) fn registration_number_taken(number: &str) -> DomainError {
    DomainError::AlreadyExists(format!("an organisation with registration number {number} already exists"))
}

/// Deliberately the same for an unknown email and a wrong password (UNAUTHENTICATED).
pub fn invalid_credentials() -> DomainError {
    DomainError::Unauthenticated("invalid email or password".into())
}

/// Trims `raw` and refuses empty, over-long and control-character input.
fn text(field: &'static str, raw: &str, max: usize) -> Result<String, DomainError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(required(field));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// A lowercased email address: `local@domain.tld`, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, DomainError> {
        const FIELD: &str = "email";
        let value = text(FIELD, raw, EMAIL_MAX_CHARS)?.to_lowercase();
        let bad = || invalid(FIELD, "is not a valid email address");
        let (local, domain) = value.split_once('@').ok_or_else(bad)?;
        // Quoted local parts and address literals are legal but never seen in practice; refusing
        // them keeps the stored form unambiguous.
        let forbidden = |c: char| c.is_whitespace() || "@\"(),:;<>[\\]".contains(c);
        if local.is_empty() || local.chars().count() > 64 || local.chars().any(forbidden) {
            return Err(bad());
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(bad());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(bad());
        }
        Ok(Email(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's name as shown to others, at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<DisplayName, DomainError> {
        text("display_name", raw, NAME_MAX_CHARS).map(DisplayName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 8 to 128 characters, kept exactly as typed (no trimming).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Password, DomainError> {
        const FIELD: &str = "password";
        if raw.is_empty() {
            return Err(required(FIELD));
        }
        let chars = raw.chars().count();
        if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
            return Err(invalid(
                FIELD,
                format!("must be between {PASSWORD_MIN_CHARS} and {PASSWORD_MAX_CHARS} characters"),
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

// Keeps passwords out of logs and panic messages.
impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// An organisation's legal name, at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationName(String);

impl OrganisationName {
    pub fn parse(raw: &str) -> Result<OrganisationName, DomainError> {
        text("name", raw, NAME_MAX_CHARS).map(OrganisationName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A trade register number (RCCM), e.g. `CG-BZV-01-2024-B12-00042`, uppercased so that
/// uniqueness does not depend on how it was typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistrationNumber(String);

impl RegistrationNumber {
    pub fn parse(raw: &str) -> Result<RegistrationNumber, DomainError> {
        const FIELD: &str = "registration_number";
        let value = text(FIELD, raw, REGISTRATION_NUMBER_MAX_CHARS)?.to_ascii_uppercase();
        if !value.chars().all(|c| c.is_ascii_alphanumeric() || "-/. ".contains(c)) {
            return Err(invalid(FIELD, "may only contain letters, digits, '-', '/', '.' and spaces"));
        }
        Ok(RegistrationNumber(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Officially assigned ISO 3166-1 alpha-2 codes.
const ISO_3166_ALPHA2: &str = "\
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM \
PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// An ISO 3166-1 alpha-2 country code, uppercase (`CG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country([u8; 2]);

impl Country {
    pub fn parse(raw: &str) -> Result<Country, DomainError> {
        const FIELD: &str = "country";
        let value = text(FIELD, raw, 2)?.to_ascii_uppercase();
        let bytes = value.as_bytes();
        if bytes.len() != 2 || !ISO_3166_ALPHA2.split(' ').any(|code| code == value) {
            return Err(invalid(FIELD, "must be an ISO 3166-1 alpha-2 code such as CG"));
        }
        Ok(Country([bytes[0], bytes[1]]))
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from two ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

/// A validated organisation to create.
#[derive(Debug, Clone)]
pub struct NewOrganisation {
    pub name: OrganisationName,
    pub registration_number: RegistrationNumber,
    pub country: Country,
}

impl NewOrganisation {
    /// Every refused field is reported at once, so a form can mark them all.
    pub fn parse(name: &str, registration_number: &str, country: &str) -> Result<NewOrganisation, DomainError> {
        let mut refused = Violations::default();
        let name = refused.check("name", OrganisationName::parse(name));
        let registration_number = refused.check("registration_number", RegistrationNumber::parse(registration_number));
        let country = refused.check("country", Country::parse(country));
        match (name, registration_number, country) {
            (Some(name), Some(registration_number), Some(country)) => {
                Ok(NewOrganisation { name, registration_number, country })
            }
            // A value is missing only when it was refused.
            _ => refused.finish().and(Err(DomainError::Invalid("the organisation was refused".into()))),
        }
    }
}

/// A validated user to create. Staff may leave `organisation_id` out: they join the
/// regulator's organisation, i.e. the creating admin's.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub display_name: DisplayName,
    pub password: Password,
    pub role: Role,
    pub organisation_id: Option<String>,
}

impl NewUser {
    /// Every refused field is reported at once; `role` is the wire's enum value.
    pub fn parse(
        email: &str,
        display_name: &str,
        password: &str,
        role: i32,
        organisation_id: Option<String>,
    ) -> Result<NewUser, DomainError> {
        let mut refused = Violations::default();
        let email = refused.check("email", Email::parse(email));
        let display_name = refused.check("display_name", DisplayName::parse(display_name));
        let password = refused.check("password", Password::parse(password));
        let role = refused.check(
            "role",
            Role::from_proto(role).ok_or_else(|| invalid("role", "must be applicant, reviewer or admin")),
        );
        match (email, display_name, password, role) {
            (Some(email), Some(display_name), Some(password), Some(role)) => {
                Ok(NewUser { email, display_name, password, role, organisation_id })
            }
            _ => refused.finish().and(Err(DomainError::Invalid("the user was refused".into()))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub organisation_id: String,
    pub name: String,
    pub registration_number: String,
    pub country: String,
    pub created_at: DateTime<Utc>,
}

/// A user as others see it; the password hash never leaves the database layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub organisation_id: String,
    pub created_at: DateTime<Utc>,
}

/// Which listing a page token belongs to, so a token cannot be replayed on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    Organisations,
    Users,
}

impl Listing {
    fn prefix(self) -> &'static str {
        match self {
            Listing::Organisations => "organisations:",
            Listing::Users => "users:",
        }
    }
}

/// A page request: how many items, and after which id (keyset pagination, stable under inserts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: usize,
    pub after: Option<String>,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { size: DEFAULT_PAGE_SIZE, after: None }
    }
}

impl PageRequest {
    /// `page_size` 0 means the default (50); otherwise 1 to 100. The token is opaque to clients
    /// and only valid for the kind of listing that produced it.
    pub(crate) fn parse(listing: Listing, page_size: i32, page_token: &str) -> Result<PageRequest, DomainError> {
        let policy = PageSize { default: DEFAULT_PAGE_SIZE as i64, max: MAX_PAGE_SIZE as i64 };
        // The shared rule and its words, reported against the field like identity's other refusals.
        let size = policy.parse(page_size).map_err(|e| DomainError::invalid_field("page_size", e.to_string()))?;
        let size = usize::try_from(size).unwrap_or(DEFAULT_PAGE_SIZE);
        let after = if page_token.is_empty() { None } else { Some(decode_token(listing, page_token)?) };
        Ok(PageRequest { size, after })
    }

    pub fn for_organisations(page_size: i32, page_token: &str) -> Result<PageRequest, DomainError> {
        Self::parse(Listing::Organisations, page_size, page_token)
    }

    pub fn for_users(page_size: i32, page_token: &str) -> Result<PageRequest, DomainError> {
        Self::parse(Listing::Users, page_size, page_token)
    }
}

fn decode_token(listing: Listing, token: &str) -> Result<String, DomainError> {
    let bad = || invalid("page_token", "is not a token this listing returned");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let id = text.strip_prefix(listing.prefix()).ok_or_else(bad)?;
    uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(id.to_owned())
}

pub(crate) fn encode_token(listing: Listing, last_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}{last_id}", listing.prefix()))
}

/// One page of results; `next_page_token` is `None` on the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(Email::parse("  Admin@ARPCE.cg ").unwrap().as_str(), "admin@arpce.cg");
        for bad in
            ["", "   ", "no-at", "@arpce.cg", "a@", "a@cg", "a b@arpce.cg", "a@@arpce.cg", "a@-x.cg", ".a@arpce.cg"]
        {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(Email::parse(""), Err(required("email")));
        let long = format!("{}@arpce.cg", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert!(Password::parse(&"é".repeat(129)).is_err());
        assert_eq!(format!("{:?}", Password::parse("secret-secret").unwrap()), "Password(***)");
        assert_eq!(Password::parse("").unwrap_err().to_string(), "password is required");
    }

    #[test]
    fn names_and_numbers_are_bounded() {
        assert!(DisplayName::parse(&"x".repeat(200)).is_ok());
        assert!(DisplayName::parse(&"x".repeat(201)).is_err());
        assert_eq!(OrganisationName::parse(" ").unwrap_err().to_string(), "name is required");
        assert_eq!(RegistrationNumber::parse("cg-bzv-01-2024-b12-00042").unwrap().as_str(), "CG-BZV-01-2024-B12-00042");
        assert!(RegistrationNumber::parse("CG;DROP").is_err());
    }

    #[test]
    fn countries_are_iso_alpha2() {
        assert_eq!(Country::parse("cg").unwrap().as_str(), "CG");
        assert_eq!(Country::parse("CD").unwrap().as_str(), "CD");
        for bad in ["", "C", "CGO", "XX", "12"] {
            assert!(Country::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(ISO_3166_ALPHA2.split(' ').count(), 249);
    }

    #[test]
    fn page_tokens_round_trip_and_are_bound_to_their_listing() {
        let id = uuid::Uuid::now_v7().to_string();
        let token = encode_token(Listing::Users, &id);
        assert_eq!(PageRequest::for_users(0, &token).unwrap(), PageRequest { size: 50, after: Some(id) });
        assert!(PageRequest::for_organisations(10, &token).is_err());
        assert!(PageRequest::for_users(10, "garbage!").is_err());
        assert!(PageRequest::for_users(101, "").is_err());
        assert!(PageRequest::for_users(-1, "").is_err());
        assert_eq!(PageRequest::for_users(100, "").unwrap().size, 100);
    }

    #[test]
    fn errors_map_to_the_documented_codes() {
        use tonic::Code;
        let code = |e: DomainError| tonic::Status::from(e).code();
        assert_eq!(code(required("email")), Code::InvalidArgument);
        assert_eq!(code(unknown_organisation("x")), Code::NotFound);
        assert_eq!(code(email_taken("x")), Code::AlreadyExists);
        assert_eq!(code(registration_number_taken("x")), Code::AlreadyExists);
        assert_eq!(code(invalid_credentials()), Code::Unauthenticated);
        assert_eq!(code(DomainError::Forbidden("x".into())), Code::PermissionDenied);
        let internal = fleuve_aggregate::AppError::internal("password hashing failed: x");
        assert_eq!(tonic::Status::from(internal).code(), Code::Internal);
    }
}
