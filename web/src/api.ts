// The console's clients of the contracts: connect-web over grpc-web (binary) to the origin
// that served the page, every call carrying the signed-in user's token.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { BadRequestSchema } from "./gen/google/rpc/error_details_pb";
import { IdentityService } from "./gen/fleuve/identity/v1/identity_pb";
import { DossierService } from "./gen/fleuve/homologation/v1/dossier_service_pb";
import { HomologationQueryService } from "./gen/fleuve/homologation/v1/query_service_pb";
import { CertificateRegistryService } from "./gen/fleuve/homologation/v1/registry_service_pb";
import { CertificateService } from "./gen/fleuve/homologation/v1/certificate_service_pb";
import { NotificationService } from "./gen/fleuve/notification/v1/notification_pb";
import { OperationsService } from "./gen/fleuve/ops/v1/operations_pb";
import { OrderService } from "./gen/fleuve/order/v1/order_service_pb";
import { StatisticsService } from "./gen/fleuve/statistics/v1/statistics_pb";
import { StockService } from "./gen/fleuve/stock/v1/stock_service_pb";
import { BillingService } from "./gen/fleuve/billing/v1/billing_service_pb";
import { currentToken } from "./session";

const withToken: Interceptor = (next) => async (request) => {
  const token = currentToken();
  if (token) request.header.set("authorization", `Bearer ${token}`);
  return next(request);
};

export const transport = createGrpcWebTransport({
  baseUrl: window.location.origin,
  useBinaryFormat: true,
  interceptors: [withToken],
});

export const identity = createClient(IdentityService, transport);
export const dossiers = createClient(DossierService, transport);
export const homologation = createClient(HomologationQueryService, transport);
export const registry = createClient(CertificateRegistryService, transport);
export const certificates = createClient(CertificateService, transport);
export const notifications = createClient(NotificationService, transport);
export const operations = createClient(OperationsService, transport);
export const orders = createClient(OrderService, transport);
export const statistics = createClient(StatisticsService, transport);
export const stock = createClient(StockService, transport);
export const billing = createClient(BillingService, transport);

/** The server's per-field messages of an INVALID_ARGUMENT answer, by field path. */
export function fieldErrors(error: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (error instanceof ConnectError && error.code === Code.InvalidArgument) {
    for (const detail of error.findDetails(BadRequestSchema)) {
      for (const violation of detail.fieldViolations) out[violation.field] = violation.description;
    }
  }
  return out;
}

/** Whether the server refused the token (expired or revoked): the session is over. */
export function isUnauthenticated(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.Unauthenticated;
}

/** What to show for a failed call: the server's message, which is written for people. */
export function errorMessage(error: unknown): string {
  if (error instanceof ConnectError) return error.rawMessage || Code[error.code];
  return error instanceof Error ? error.message : String(error);
}
