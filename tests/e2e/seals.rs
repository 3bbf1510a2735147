//! Certificate seals: the regulator's ES256 JWS over a certificate's essentials, verifiable by
//! anyone with the published keys (what the printed certificate's QR code carries).

use fleuve_mesh::Role;
use fleuve_proto::homologation::v1 as pb;
use tonic::Code;

use crate::support::{Backend, TestNode, approved_dossier, authed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_seal_verifies_against_the_published_keys() {
    let node = TestNode::start(Backend::Sqlite).await;
    let id = approved_dossier(&node, "Tecno", "Pova 7").await;
    let mut queries = node.queries();
    let dossier = queries
        .get_dossier(authed(pb::GetDossierRequest { dossier_id: id }, &node.token(Role::Applicant)))
        .await
        .unwrap()
        .into_inner()
        .dossier
        .unwrap();
    let number = dossier.certificate_number;

    // The holder asks for the seal; the keys are public (no token).
    let sealed = queries
        .get_certificate_seal(authed(
            pb::GetCertificateSealRequest { certificate_number: number.clone() },
            &node.token(Role::Applicant),
        ))
        .await
        .expect("seal")
        .into_inner();
    let keys = node.registry().get_seal_keys(pb::GetSealKeysRequest {}).await.expect("public keys").into_inner().keys;
    assert_eq!(keys.len(), 1);
    let header = jsonwebtoken::decode_header(&sealed.seal).unwrap();
    assert_eq!(
        (header.alg, header.kid.as_deref(), header.typ.as_deref()),
        (jsonwebtoken::Algorithm::ES256, Some(sealed.key_id.as_str()), Some("fleuve-seal+jwt"))
    );
    assert_eq!(keys[0].kid, sealed.key_id);
    let key = jsonwebtoken::DecodingKey::from_ec_components(&keys[0].x, &keys[0].y).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims =
        jsonwebtoken::decode::<serde_json::Value>(&sealed.seal, &key, &validation).expect("a valid signature").claims;
    assert_eq!(claims["iss"], "ARPCE");
    assert_eq!(claims["sub"], number.as_str());
    assert_eq!((claims["brand"].as_str(), claims["model"].as_str()), (Some("Tecno"), Some("Pova 7")));
    assert_eq!(claims["category"], "EQUIPMENT_CATEGORY_MOBILE_TERMINAL");
    assert!(claims["valid_until"].as_i64().unwrap() > claims["valid_from"].as_i64().unwrap());

    // Altered, it no longer verifies.
    let parts: Vec<&str> = sealed.seal.split('.').collect();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut altered: serde_json::Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
    altered["brand"] = "Tecno Pro".into();
    let forged = format!("{}.{}.{}", parts[0], engine.encode(altered.to_string()), parts[2]);
    assert!(jsonwebtoken::decode::<serde_json::Value>(&forged, &key, &validation).is_err());

    // Another organisation cannot have it sealed (as for GetCertificate); staff can.
    let refused = queries
        .get_certificate_seal(authed(
            pb::GetCertificateSealRequest { certificate_number: number.clone() },
            &node.other_applicant_token(),
        ))
        .await
        .expect_err("another organisation");
    assert_eq!(refused.code(), Code::NotFound);
    queries
        .get_certificate_seal(authed(
            pb::GetCertificateSealRequest { certificate_number: number },
            &node.token(Role::Reviewer),
        ))
        .await
        .expect("staff");
}
