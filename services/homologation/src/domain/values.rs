//! Value rules shared by the aggregates and the gRPC edge: text limits, equipment, documents,
//! timestamps and the regulator's numbering formats.

use chrono::{DateTime, Months, Utc};
use fleuve_proto::homologation::v1 as pb;

use super::DomainError;
use fleuve_aggregate::Violations;

pub const MAX_FREQUENCY_BANDS: usize = 16;
pub const MAX_CHARACTERISTICS: usize = 64;
pub const MAX_STANDARDS: usize = 20;
pub const MIN_VALIDITY_YEARS: u32 = 1;
pub const MAX_VALIDITY_YEARS: u32 = 10;

const CERTIFICATE_PREFIX: &str = "ARPCE-HOM-";
const INVOICE_PREFIX: &str = "ARPCE-INV-";
/// Sequence numbers are zero-padded to this width; larger numbers simply grow.
const SEQUENCE_WIDTH: usize = 6;

/// A required text: trimmed, non-empty and at most `max_chars` characters.
pub fn text(field: &str, value: &str, max_chars: usize) -> Result<String, DomainError> {
    let value = optional_text(field, value, max_chars)?;
    if value.is_empty() {
        return Err(DomainError::Invalid(format!("{field} is required")));
    }
    Ok(value)
}

/// An optional text: trimmed and at most `max_chars` characters, empty allowed.
///
/// Control characters other than line breaks and tabs are refused: they have no place in a
/// regulatory record and NUL cannot even be stored in a Postgres text column.
pub fn optional_text(field: &str, value: &str, max_chars: usize) -> Result<String, DomainError> {
    let value = value.trim();
    if value.chars().count() > max_chars {
        return Err(DomainError::Invalid(format!("{field} must be at most {max_chars} characters")));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(DomainError::Invalid(format!("{field} must not contain control characters")));
    }
    Ok(value.to_owned())
}

/// A validated, trimmed copy of an equipment description. Every refused field is reported at
/// once, named by its path in `CreateDossierRequest` (`equipment.brand`,
/// `equipment.frequency_bands[1]`, `equipment.characteristics[0].name`).
pub fn equipment(e: &pb::Equipment) -> Result<pb::Equipment, DomainError> {
    let mut refused = Violations::default();
    let brand = refused.check("equipment.brand", text("equipment brand", &e.brand, 100));
    let model = refused.check("equipment.model", text("equipment model", &e.model, 100));
    let category = refused.check("equipment.category", equipment_category(e.category));
    if e.frequency_bands.is_empty() {
        refused.add("equipment.frequency_bands", "equipment needs at least one frequency band");
    } else if e.frequency_bands.len() > MAX_FREQUENCY_BANDS {
        refused
            .add("equipment.frequency_bands", format!("equipment has at most {MAX_FREQUENCY_BANDS} frequency bands"));
    }
    for (index, band) in e.frequency_bands.iter().enumerate().take(MAX_FREQUENCY_BANDS) {
        if band.lower_khz == 0 || band.lower_khz >= band.upper_khz {
            refused.add(
                format!("equipment.frequency_bands[{index}]"),
                format!("frequency band {} must satisfy 0 < lower_khz < upper_khz", index + 1),
            );
        }
    }
    if e.characteristics.len() > MAX_CHARACTERISTICS {
        refused
            .add("equipment.characteristics", format!("equipment has at most {MAX_CHARACTERISTICS} characteristics"));
    }
    let characteristics: Vec<_> = e
        .characteristics
        .iter()
        .take(MAX_CHARACTERISTICS)
        .enumerate()
        .map(|(index, c)| pb::Characteristic {
            name: refused
                .check(format!("equipment.characteristics[{index}].name"), text("characteristic name", &c.name, 100))
                .unwrap_or_default(),
            value: refused
                .check(
                    format!("equipment.characteristics[{index}].value"),
                    optional_text("characteristic value", &c.value, 500),
                )
                .unwrap_or_default(),
        })
        .collect();
    refused.finish()?;
    // Nothing was refused: every checked value is there.
    Ok(pb::Equipment {
        brand: brand.unwrap_or_default(),
        model: model.unwrap_or_default(),
        category: category.map_or(0, |c| c as i32),
        frequency_bands: e.frequency_bands.clone(),
        characteristics,
    })
}

/// A known equipment category; the wire's unspecified value is refused.
pub fn equipment_category(value: i32) -> Result<pb::EquipmentCategory, DomainError> {
    match pb::EquipmentCategory::try_from(value) {
        Ok(pb::EquipmentCategory::Unspecified) => Err(DomainError::Invalid("equipment category is required".into())),
        Ok(category) => Ok(category),
        Err(_) => Err(DomainError::Invalid(format!("equipment category {value} is unknown"))),
    }
}

/// A known document kind; the wire's unspecified value is refused.
pub fn document_kind(value: i32) -> Result<pb::DocumentKind, DomainError> {
    match pb::DocumentKind::try_from(value) {
        Ok(pb::DocumentKind::Unspecified) => Err(DomainError::Invalid("document kind is required".into())),
        Ok(kind) => Ok(kind),
        Err(_) => Err(DomainError::Invalid(format!("document kind {value} is unknown"))),
    }
}

/// A known foreign certification scheme; the wire's unspecified value is refused.
pub fn foreign_scheme(value: i32) -> Result<pb::ForeignScheme, DomainError> {
    match pb::ForeignScheme::try_from(value) {
        Ok(pb::ForeignScheme::Unspecified) => Err(DomainError::Invalid("foreign scheme is required".into())),
        Ok(scheme) => Ok(scheme),
        Err(_) => Err(DomainError::Invalid(format!("foreign scheme {value} is unknown"))),
    }
}

/// The standards a test was run against: 1 to 20 references of at most 100 characters.
pub fn standards(values: &[String]) -> Result<Vec<String>, DomainError> {
    if values.is_empty() {
        return Err(DomainError::Invalid("at least one standard is required".into()));
    }
    if values.len() > MAX_STANDARDS {
        return Err(DomainError::Invalid(format!("at most {MAX_STANDARDS} standards are allowed")));
    }
    values.iter().map(|s| text("standard", s, 100)).collect()
}

/// A hex SHA-256 digest: exactly 64 hex digits, returned lowercased so digests compare equal.
pub fn sha256_hex(value: &str) -> Result<String, DomainError> {
    let value = value.trim();
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DomainError::Invalid("sha256 must be 64 hexadecimal characters".into()));
    }
    Ok(value.to_ascii_lowercase())
}

/// The media types an uploaded file may have, with the first bytes its content must start with
/// (WebP: "RIFF", four size bytes, then "WEBP", checked apart).
const UPLOAD_TYPES: [(&str, &[u8]); 4] = [
    ("application/pdf", b"%PDF-"),
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", b"\xff\xd8\xff"),
    ("image/webp", b"RIFF"),
];

/// An uploaded file checked against what its uploader says of it: the declared SHA-256 must be
/// the content's, the media type one of [`UPLOAD_TYPES`] and the content's first bytes that
/// type's signature, the content 1 to `max_bytes` bytes. Returns the digest (lower-case hex);
/// each refusal names its field of `UploadDocumentRequest`.
pub fn uploaded_file(
    media_type: &str,
    declared_sha256: &str,
    content: &[u8],
    max_bytes: usize,
) -> Result<String, DomainError> {
    use sha2::{Digest, Sha256};
    let mut refused = Violations::default();
    let declared = refused.check("sha256", sha256_hex(declared_sha256));
    if content.is_empty() {
        refused.add("content", "the file is empty");
    } else if content.len() > max_bytes {
        refused.add("content", format!("a file may be at most {max_bytes} bytes"));
    }
    let media_type = media_type.trim().to_ascii_lowercase();
    match UPLOAD_TYPES.iter().find(|(name, _)| *name == media_type) {
        None => refused.add("media_type", "only PDF, PNG, JPEG and WebP files are accepted"),
        Some((name, magic)) => {
            let webp = *name != "image/webp" || content.get(8..12) == Some(b"WEBP".as_slice());
            if !content.is_empty() && !(content.starts_with(magic) && webp) {
                refused.add("content", format!("the file's content is not {name}"));
            }
        }
    }
    let actual = hex::encode(Sha256::digest(content));
    if declared.as_ref().is_some_and(|d| *d != actual) {
        refused.add("sha256", "sha256 does not match the uploaded file");
    }
    refused.finish()?;
    Ok(actual)
}

/// A certificate validity in whole years, 1 to 10.
pub fn validity_years(years: u32) -> Result<u32, DomainError> {
    if (MIN_VALIDITY_YEARS..=MAX_VALIDITY_YEARS).contains(&years) {
        Ok(years)
    } else {
        Err(DomainError::Invalid(format!(
            "validity must be between {MIN_VALIDITY_YEARS} and {MAX_VALIDITY_YEARS} years"
        )))
    }
}

/// `at` plus whole calendar years; a 29 February start ends on 28 February of a common year.
pub fn add_years(at: DateTime<Utc>, years: u32) -> Result<DateTime<Utc>, DomainError> {
    // Adding months clamps to the month's last day, which is what turns 29 Feb into 28 Feb.
    years
        .checked_mul(12)
        .and_then(|months| at.checked_add_months(Months::new(months)))
        .ok_or_else(|| DomainError::Invalid("validity ends beyond the supported calendar".into()))
}

pub use fleuve_proto::time::{instant as datetime, timestamp};

/// The regulator's certificate numbers: `ARPCE-HOM-<year>-<sequence>`, one sequence per year.
#[derive(Debug, Clone, Copy)]
pub struct CertificateNumber;

impl CertificateNumber {
    /// `ARPCE-HOM-2026-000042` for year 2026, sequence 42.
    pub fn format(year: i32, seq: i64) -> String {
        format!("{CERTIFICATE_PREFIX}{year:04}-{seq:0SEQUENCE_WIDTH$}")
    }

    /// The canonical (trimmed, upper-case) form of a certificate number, or `Invalid`.
    ///
    /// Case is forgiven because the public registry is searched by hand; everything else must be
    /// exactly what [`CertificateNumber::format`] produces for a positive sequence.
    pub fn parse(s: &str) -> Result<String, DomainError> {
        let canonical = s.trim().to_ascii_uppercase();
        let valid = canonical
            .strip_prefix(CERTIFICATE_PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .is_some_and(|(year, seq)| is_year(year) && is_sequence(seq));
        if valid {
            Ok(canonical)
        } else {
            Err(DomainError::Invalid(format!("certificate number must look like {}", Self::format(2026, 42))))
        }
    }

    /// The name of the store sequence that numbers the certificates of `year`.
    pub fn sequence_name(year: i32) -> String {
        format!("certificate-{year}")
    }
}

/// `ARPCE-INV-2026-000042` for year 2026, sequence 42.
pub fn invoice_number(year: i32, seq: i64) -> String {
    format!("{INVOICE_PREFIX}{year:04}-{seq:0SEQUENCE_WIDTH$}")
}

fn is_year(s: &str) -> bool {
    s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Zero-padded to six digits, wider only without padding, and never zero: sequences start at 1.
fn is_sequence(s: &str) -> bool {
    s.len() >= SEQUENCE_WIDTH
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s.len() == SEQUENCE_WIDTH || !s.starts_with('0'))
        && s.bytes().any(|b| b != b'0')
}
