// A browser-style client of the edge: connect-web's grpc-web transport (fetch) and code
// generated from proto/ by buf + protoc-gen-es. Places an order whose payment never gets an
// answer, then follows it with WatchOrder over grpc-web until the saga gives up and
// compensates: the stream stays open about as long as the payment deadline. Prints one JSON
// line: the statuses seen, in order, and how long the stream stayed open.
//
// Env: EDGE (http://host:port of the edge), TOKEN (a customer's bearer token), GEN (the
// generated code's directory).
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

const { EDGE, TOKEN, GEN } = process.env;
const { OrderService } = await import(`${GEN}/fleuve/order/v1/order_service_pb.js`);
const { OrderStatus } = await import(`${GEN}/fleuve/order/v1/types_pb.js`);
const { IdentityService } = await import(`${GEN}/fleuve/identity/v1/identity_pb.js`);

const headers = { authorization: `Bearer ${TOKEN}` };
// grpc-web with protobuf bodies (connect-web's other format is JSON, which gRPC servers do
// not speak; the base64 "text" encoding is the official grpc-web library's, tested in Rust).
const transport = createGrpcWebTransport({ baseUrl: EDGE, useBinaryFormat: true });

const me = await createClient(IdentityService, transport).whoAmI({}, { headers });
const orders = createClient(OrderService, transport);
const placed = await orders.placeOrder(
  {
    idempotencyKey: `node-watch-${Date.now()}`,
    currency: "XAF",
    paymentToken: "tok_timeout-node",
    lines: [{ productId: "sku-pen", quantity: 1, unitPrice: 100n }],
  },
  { headers },
);
const orderId = placed.order.orderId;
const opened = Date.now();
const statuses = [];
for await (const update of orders.watchOrder({ orderId }, { headers, timeoutMs: 180_000 })) {
  statuses.push(OrderStatus[update.order.status]);
}
console.log(JSON.stringify({ subject: me.subject, orderId, statuses, openMs: Date.now() - opened }));
