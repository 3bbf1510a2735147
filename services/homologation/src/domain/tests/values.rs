//! Value rules, fees and numbering formats.

use fleuve_proto::homologation::v1 as pb;

use super::*;
use crate::domain::fees::fee_for;
use crate::domain::values::{self, CertificateNumber};

#[test]
fn text_trims_and_bounds() {
    assert_eq!(values::text("brand", "  Tecno  ", 10), Ok("Tecno".into()));
    assert_eq!(values::text("brand", " ", 10), Err(invalid("brand is required")));
    assert_eq!(values::text("brand", "éééé", 4), Ok("éééé".into()), "limits count characters, not bytes");
    assert_eq!(values::text("brand", "abcde", 4), Err(invalid("brand must be at most 4 characters")));
    assert_eq!(values::optional_text("note", "  ", 10), Ok(String::new()));
    assert_eq!(values::optional_text("note", "a\nb", 10), Ok("a\nb".into()));
    assert_eq!(values::optional_text("note", "a\0b", 10), Err(invalid("note must not contain control characters")));
}

#[test]
fn equipment_is_validated_and_trimmed() {
    let mut e = equipment();
    e.model = " Spark 20 ".into();
    assert_eq!(values::equipment(&e), Ok(equipment()));

    // Each refusal names the request field it is about, for the form that shows it.
    type Case = (fn(&mut pb::Equipment), &'static str, &'static str);
    let cases: [Case; 10] = [
        (|e| e.brand.clear(), "equipment.brand", "equipment brand is required"),
        (|e| e.model = "m".repeat(101), "equipment.model", "equipment model must be at most 100 characters"),
        (|e| e.category = 0, "equipment.category", "equipment category is required"),
        (|e| e.category = 42, "equipment.category", "equipment category 42 is unknown"),
        (|e| e.frequency_bands.clear(), "equipment.frequency_bands", "at least one frequency band"),
        (
            |e| e.frequency_bands = vec![pb::FrequencyBand { lower_khz: 1, upper_khz: 2 }; 17],
            "equipment.frequency_bands",
            "at most 16 frequency bands",
        ),
        (
            |e| e.frequency_bands[0].lower_khz = 0,
            "equipment.frequency_bands[0]",
            "frequency band 1 must satisfy 0 < lower_khz < upper_khz",
        ),
        (
            |e| e.frequency_bands[0].upper_khz = e.frequency_bands[0].lower_khz,
            "equipment.frequency_bands[0]",
            "frequency band 1 must satisfy",
        ),
        (
            |e| e.characteristics[0].name = " ".into(),
            "equipment.characteristics[0].name",
            "characteristic name is required",
        ),
        (
            |e| e.characteristics[0].value = "v".repeat(501),
            "equipment.characteristics[0].value",
            "characteristic value must be at most 500",
        ),
    ];
    for (spoil, path, message) in cases {
        let mut e = equipment();
        spoil(&mut e);
        let error = values::equipment(&e).expect_err(message);
        assert!(
            matches!(&error, DomainError::InvalidFields(v) if v.len() == 1 && v[0].field == path && v[0].description.contains(message)),
            "{error:?} for {message}"
        );
    }
    let mut many = equipment();
    many.characteristics = vec![pb::Characteristic { name: "n".into(), value: String::new() }; 65];
    assert_eq!(
        values::equipment(&many),
        Err(DomainError::invalid_field("equipment.characteristics", "equipment has at most 64 characteristics"))
    );

    // Every refused field at once, each under its path.
    let mut bad = equipment();
    bad.brand.clear();
    bad.category = 0;
    bad.frequency_bands[0].lower_khz = 0;
    bad.characteristics[0].name.clear();
    let Err(DomainError::InvalidFields(violations)) = values::equipment(&bad) else { panic!("refused") };
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        ["equipment.brand", "equipment.category", "equipment.frequency_bands[0]", "equipment.characteristics[0].name"]
    );
}

#[test]
fn document_kinds_must_be_known() {
    assert_eq!(values::document_kind(4), Ok(pb::DocumentKind::Photos));
    assert_eq!(values::document_kind(0), Err(invalid("document kind is required")));
    assert_eq!(values::document_kind(-1), Err(invalid("document kind -1 is unknown")));
}

#[test]
fn sha256_is_64_hex_digits_lowercased() {
    let upper = "AB".repeat(32);
    assert_eq!(values::sha256_hex(&upper), Ok("ab".repeat(32)));
    for bad in ["", "ab", &"zz".repeat(32), &"a".repeat(65)] {
        assert!(values::sha256_hex(bad).is_err(), "{bad}");
    }
}

#[test]
fn certificate_numbers_round_trip() {
    assert_eq!(CertificateNumber::format(2026, 42), "ARPCE-HOM-2026-000042");
    assert_eq!(CertificateNumber::format(2026, 1_234_567), "ARPCE-HOM-2026-1234567");
    assert_eq!(CertificateNumber::parse("ARPCE-HOM-2026-000042"), Ok("ARPCE-HOM-2026-000042".into()));
    assert_eq!(CertificateNumber::parse(" arpce-hom-2026-000042 "), Ok("ARPCE-HOM-2026-000042".into()));
    assert_eq!(CertificateNumber::parse("ARPCE-HOM-2026-1234567"), Ok("ARPCE-HOM-2026-1234567".into()));
    for bad in [
        "",
        "ARPCE-HOM-2026-42",
        "ARPCE-HOM-2026-000000",
        "ARPCE-HOM-2026-0000042",
        "ARPCE-HOM-26-000042",
        "ARPCE-INV-2026-000042",
        "ARPCE-HOM-2026-00004a",
        "ARPCE-HOM-2026-000042-1",
    ] {
        assert_eq!(
            CertificateNumber::parse(bad),
            Err(invalid("certificate number must look like ARPCE-HOM-2026-000042")),
            "{bad}"
        );
    }
    assert_eq!(CertificateNumber::sequence_name(2026), "certificate-2026");
    assert_eq!(values::invoice_number(2026, 42), "ARPCE-INV-2026-000042");
}

#[test]
fn fees_follow_the_category_schedule() {
    let amount = |c| fee_for(c).amount;
    assert_eq!(amount(pb::EquipmentCategory::MobileTerminal), 250_000);
    assert_eq!(amount(pb::EquipmentCategory::RadioEquipment), 400_000);
    assert_eq!(amount(pb::EquipmentCategory::NetworkEquipment), 750_000);
    assert_eq!(amount(pb::EquipmentCategory::SatelliteTerminal), 500_000);
    assert_eq!(fee_for(pb::EquipmentCategory::SatelliteTerminal).currency, "XAF");
}

#[test]
fn years_are_calendar_years() {
    assert_eq!(values::add_years(at(2028, 2, 29), 4), Ok(at(2032, 2, 29)));
    assert_eq!(values::add_years(at(2028, 2, 29), 1), Ok(at(2029, 2, 28)));
    assert_eq!(values::validity_years(10), Ok(10));
    assert!(values::validity_years(0).is_err());
}

#[test]
fn timestamps_round_trip() {
    let ts = timestamp(now());
    assert_eq!(values::datetime(&ts), Some(now()));
    let broken = prost_types::Timestamp { seconds: 0, nanos: -1 };
    assert_eq!(values::datetime(&broken), None);
}

#[test]
fn uploaded_files_must_match_their_digest_type_and_size() {
    use sha2::{Digest, Sha256};
    let pdf = b"%PDF-1.7\n%%EOF\n".to_vec();
    let digest = hex::encode(Sha256::digest(&pdf));
    assert_eq!(values::uploaded_file("application/pdf", &digest.to_uppercase(), &pdf, 1024), Ok(digest.clone()));
    let webp = b"RIFF\x10\x00\x00\x00WEBPVP8 ".to_vec();
    let webp_digest = hex::encode(Sha256::digest(&webp));
    assert_eq!(values::uploaded_file("image/webp", &webp_digest, &webp, 1024), Ok(webp_digest));

    let refused = |media_type: &str, sha256: &str, content: &[u8], max: usize| -> Vec<(String, String)> {
        match values::uploaded_file(media_type, sha256, content, max) {
            Err(DomainError::InvalidFields(v)) => v.into_iter().map(|v| (v.field, v.description)).collect(),
            other => panic!("{other:?}"),
        }
    };
    let other = hex::encode(Sha256::digest(b"other"));
    assert_eq!(
        refused("application/pdf", &other, &pdf, 1024),
        [("sha256".to_owned(), "sha256 does not match the uploaded file".to_owned())]
    );
    assert_eq!(
        refused("image/png", &digest, &pdf, 1024),
        [("content".to_owned(), "the file's content is not image/png".to_owned())]
    );
    assert_eq!(
        refused("text/html", &digest, &pdf, 1024),
        [("media_type".to_owned(), "only PDF, PNG, JPEG and WebP files are accepted".to_owned())]
    );
    assert_eq!(refused("application/pdf", &digest, &pdf, 4)[0].1, "a file may be at most 4 bytes");
    assert_eq!(refused("application/pdf", "abc", b"", 4).len(), 2, "a bad digest and an empty file, both reported");
    assert_eq!(refused("image/webp", &digest, b"RIFF\x10\x00\x00\x00AVI ", 1024)[0].0, "content");
}
