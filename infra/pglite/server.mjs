// PGlite (PostgreSQL 17 in WebAssembly) with TimescaleDB, in memory, served over the
// PostgreSQL wire protocol on 127.0.0.1:PORT. One database and one backend session, which
// clients take in turn (pglite-socket queues a connection while another is open).
//
//   node server.mjs PORT      # prints "listening on 127.0.0.1:PORT" once ready
import { PGlite } from "@electric-sql/pglite";
import { timescaledb } from "@electric-sql/pglite/timescaledb";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: node server.mjs PORT");
  process.exit(2);
}
const db = await PGlite.create({ extensions: { timescaledb } });
// Connections wait their turn for up to 2 minutes (parallel tests, a loaded machine).
const server = new PGLiteSocketServer({
  db,
  port,
  host: "127.0.0.1",
  connectionQueueTimeout: 120_000,
});
await server.start();
console.log(`listening on 127.0.0.1:${port}`);

async function stop() {
  await server.stop();
  await db.close();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
