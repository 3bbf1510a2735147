"""The README's dossier walk-through with the Python client, against a running `fleuve dev`.

    FLEUVE_ADDR=127.0.0.1:50051 python examples/dossier_walkthrough.py

Prints one JSON line: the dossier, its statuses along the way, the certificate and what the
public registry says of it.
"""

import hashlib
import json
import os
import sys
import time

import grpc
from google.rpc import error_details_pb2, status_pb2

from fleuve.homologation.v1 import (
    dossier_service_pb2 as dossiers,
    dossier_service_pb2_grpc as dossiers_grpc,
    query_service_pb2 as queries,
    query_service_pb2_grpc as queries_grpc,
    registry_service_pb2 as registry,
    registry_service_pb2_grpc as registry_grpc,
    types_pb2 as types,
)
from fleuve.identity.v1 import identity_pb2 as identity, identity_pb2_grpc as identity_grpc

ADDR = os.environ.get("FLEUVE_ADDR", "127.0.0.1:50051")
PASSWORD = os.environ.get("FLEUVE_DEMO_PASSWORD", "fleuve-dev-password")


def login(channel, email):
    reply = identity_grpc.IdentityServiceStub(channel).Login(identity.LoginRequest(email=email, password=PASSWORD))
    return reply.access_token, reply.user


def bearer(token):
    return [("authorization", f"Bearer {token}")]


def bad_request_fields(error):
    """The field paths of a google.rpc.BadRequest carried by a failed call's trailers."""
    raw = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    if raw is None:
        return []
    fields = []
    for detail in status_pb2.Status.FromString(raw).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            fields.extend(v.field for v in bad_request.field_violations)
    return fields


def pdf(title):
    return f"%PDF-1.7\n1 0 obj << /Title ({title}) >> endobj\n%%EOF\n".encode()


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f00f0003860180"
    "5a347d6b0000000049454e44ae426082"
)


def main():
    channel = grpc.insecure_channel(ADDR)
    applicant, _ = login(channel, "applicant@congomobile.cg")
    admin, _ = login(channel, "admin@arpce.cg")
    reviewer, reviewer_user = login(channel, "reviewer@arpce.cg")
    d = dossiers_grpc.DossierServiceStub(channel)
    q = queries_grpc.HomologationQueryServiceStub(channel)
    seen = []

    def status(token=applicant):
        dossier = q.GetDossier(queries.GetDossierRequest(dossier_id=dossier_id), metadata=bearer(token)).dossier
        seen.append(types.DossierStatus.Name(dossier.status))
        return dossier

    equipment = types.Equipment(
        brand="Infinix",
        model="Hot 50",
        category=types.EQUIPMENT_CATEGORY_MOBILE_TERMINAL,
        frequency_bands=[types.FrequencyBand(lower_khz=880_000, upper_khz=915_000)],
    )
    dossier_id = d.CreateDossier(dossiers.CreateDossierRequest(equipment=equipment), metadata=bearer(applicant)).dossier_id
    status()

    # Refused fields come back with their paths in the status's BadRequest details.
    try:
        d.CreateDossier(dossiers.CreateDossierRequest(equipment=types.Equipment()), metadata=bearer(applicant))
        refused = None
    except grpc.RpcError as error:
        refused = {"code": error.code().name, "fields": bad_request_fields(error)}

    uploads = [
        (types.DOCUMENT_KIND_TECHNICAL_DATASHEET, "fiche.pdf", "application/pdf", pdf("fiche")),
        (types.DOCUMENT_KIND_DECLARATION_OF_CONFORMITY, "declaration.pdf", "application/pdf", pdf("declaration")),
        (types.DOCUMENT_KIND_TRADE_REGISTER_EXTRACT, "rccm.pdf", "application/pdf", pdf("rccm")),
        (types.DOCUMENT_KIND_PHOTOS, "photo.png", "image/png", PNG),
    ]
    stored = []
    for kind, name, media_type, content in uploads:
        reply = d.UploadDocument(
            dossiers.UploadDocumentRequest(
                dossier_id=dossier_id,
                kind=kind,
                file_name=name,
                media_type=media_type,
                sha256=hashlib.sha256(content).hexdigest(),
                content=content,
            ),
            metadata=bearer(applicant),
        )
        stored.append(reply.document.document_id)
    back = q.GetDocumentContent(
        queries.GetDocumentContentRequest(dossier_id=dossier_id, document_id=stored[0]), metadata=bearer(applicant)
    )
    d.SubmitDossier(dossiers.SubmitDossierRequest(dossier_id=dossier_id), metadata=bearer(applicant))
    status()

    d.InvoiceFee(dossiers.InvoiceFeeRequest(dossier_id=dossier_id), metadata=bearer(admin))
    invoice = status().invoice
    d.RecordPayment(
        dossiers.RecordPaymentRequest(dossier_id=dossier_id, payment_reference="MOMO-42", amount=invoice.amount),
        metadata=bearer(admin),
    )
    d.AssignReviewer(
        dossiers.AssignReviewerRequest(dossier_id=dossier_id, reviewer_id=reviewer_user.user_id), metadata=bearer(admin)
    )
    status()
    d.RecognizeForeignCertificate(
        dossiers.RecognizeForeignCertificateRequest(
            dossier_id=dossier_id, scheme=types.FOREIGN_SCHEME_CE, reference="CE-RED-2026-0099", issuer="TÜV"
        ),
        metadata=bearer(reviewer),
    )
    d.GiveTechnicalOpinion(
        dossiers.GiveTechnicalOpinionRequest(dossier_id=dossier_id, favorable=True, comments="conforme"),
        metadata=bearer(reviewer),
    )
    approved = d.ApproveDossier(dossiers.ApproveDossierRequest(dossier_id=dossier_id), metadata=bearer(admin))
    certificate = status().certificate_number

    # The public registry is a projection: it has the certificate a moment later.
    r = registry_grpc.CertificateRegistryServiceStub(channel)
    for _ in range(100):
        try:
            verified = r.VerifyCertificate(registry.VerifyCertificateRequest(certificate_number=certificate))
            break
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            time.sleep(0.1)
    else:
        sys.exit(f"{certificate} never reached the public registry")

    print(
        json.dumps(
            {
                "dossier_id": dossier_id,
                "statuses": seen,
                "refused_empty_equipment": refused,
                "download_matches": back.content == uploads[0][3],
                "invoice": invoice.invoice_number,
                "approved_version": approved.version,
                "certificate": certificate,
                "valid": verified.valid,
                "brand": verified.certificate.brand,
            }
        )
    )


if __name__ == "__main__":
    main()
