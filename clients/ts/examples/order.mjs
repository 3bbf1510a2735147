// The TypeScript client from Node, over gRPC (HTTP/2, @connectrpc/connect-node) against a
// running `fleuve dev`: the demo applicant signs in, reads the catalogue, places an order for
// two pens at the catalogue price, follows it with WatchOrder until it ends, and checks a
// certificate number in the public registry. Prints one JSON line.
//
//   FLEUVE_ADDR=127.0.0.1:50051 node examples/order.mjs
import { randomUUID } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { IdentityService } from "@fleuve/client/fleuve/identity/v1/identity_pb";
import { StockService } from "@fleuve/client/fleuve/stock/v1/stock_service_pb";
import { OrderService } from "@fleuve/client/fleuve/order/v1/order_service_pb";
import { OrderStatus } from "@fleuve/client/fleuve/order/v1/types_pb";
import { CertificateRegistryService } from "@fleuve/client/fleuve/homologation/v1/registry_service_pb";

const addr = process.env.FLEUVE_ADDR ?? "127.0.0.1:50051";
const transport = createGrpcTransport({ baseUrl: `http://${addr}` });
const login = await createClient(IdentityService, transport).login({
  email: process.env.FLEUVE_EMAIL ?? "applicant@congomobile.cg",
  password: process.env.FLEUVE_PASSWORD ?? "fleuve-dev-password",
});
const headers = { authorization: `Bearer ${login.accessToken}` };

const { products } = await createClient(StockService, transport).listProducts({}, { headers });
const pen = products.find((p) => p.productId === "sku-pen");
const orders = createClient(OrderService, transport);
const placed = await orders.placeOrder(
  {
    idempotencyKey: randomUUID(),
    currency: pen.price.currency,
    paymentToken: "tok_visa_4242",
    lines: [{ productId: pen.productId, quantity: 2, unitPrice: pen.price.amount }],
  },
  { headers },
);
const statuses = [];
for await (const update of orders.watchOrder({ orderId: placed.order.orderId }, { headers })) {
  statuses.push(OrderStatus[update.order.status]);
}

// A number nobody issued: the registry says NOT_FOUND.
let unknown = null;
try {
  await createClient(CertificateRegistryService, transport).verifyCertificate({ certificateNumber: "ARPCE-HOM-2026-999999" });
} catch (error) {
  unknown = ConnectError.from(error).code === Code.NotFound ? "NOT_FOUND" : String(error);
}

console.log(
  JSON.stringify({
    user: login.user.email,
    price: `${pen.price.amount} ${pen.price.currency}`,
    order: placed.order.orderId,
    total: `${placed.order.total.amount} ${placed.order.total.currency}`,
    statuses,
    unknownCertificate: unknown,
  }),
);
