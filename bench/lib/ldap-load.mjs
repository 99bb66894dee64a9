// bench/lib/ldap-load.mjs — LDAP load for bench/ldap: raw BER over plain TCP, so that
// the client costs little next to the server it measures.
//
//   node ldap-load.mjs --port P --scenario search|bind-search --base DN --bind-dn DN
//                      --password PW --users N --connections C --duration S
//
// search: each connection binds once, then searches (uid=benchNNNNN) for a random
// user, one request at a time, and counts the answers with one entry.
// bind-search: each operation opens a connection, binds, searches, unbinds.
// Prints one JSON line: {ops, seconds, rate, errors}.
import net from "node:net";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const port = Number(args.port);
const scenario = args.scenario;
const base = args.base;
const users = Number(args.users);
const connections = Number(args.connections ?? 8);
const duration = Number(args.duration ?? 10) * 1000;

function len(n) {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}
const tlv = (tag, ...parts) => {
  const body = Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)));
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const int = (n) => tlv(0x02, Buffer.from([n & 0x7f]));
const msg = (id, op) => tlv(0x30, int(id), op);
const bind = (id) => msg(id, tlv(0x60, int(3), tlv(0x04, args["bind-dn"]), tlv(0x80, args.password)));
const search = (id, uid) =>
  msg(
    id,
    tlv(0x63, tlv(0x04, base), tlv(0x0a, Buffer.from([2])), tlv(0x0a, Buffer.from([0])), int(0), int(0),
      tlv(0x01, Buffer.from([0])), tlv(0xa3, tlv(0x04, "uid"), tlv(0x04, uid)),
      tlv(0x30, tlv(0x04, "uid"), tlv(0x04, "cn"), tlv(0x04, "mail"), tlv(0x04, "memberOf"))),
  );
const unbind = (id) => msg(id, Buffer.from([0x42, 0x00]));
const randomUser = () => `bench${String(1 + Math.floor(Math.random() * users)).padStart(5, "0")}`;

// Reads whole LDAP messages off a socket; calls back with (opTag, resultCode|null).
function reader(socket, onMessage) {
  let buf = Buffer.alloc(0);
  socket.on("data", (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (buf.length < 2) return;
      let l = buf[1], head = 2;
      if (l & 0x80) {
        const k = l & 0x7f;
        if (buf.length < 2 + k) return;
        l = 0;
        for (let i = 0; i < k; i++) l = l * 256 + buf[2 + i];
        head = 2 + k;
      }
      if (buf.length < head + l) return;
      const m = buf.subarray(head, head + l);
      buf = buf.subarray(head + l);
      const opAt = 2 + m[1];
      const tag = m[opAt];
      let code = null;
      if (tag === 0x61 || tag === 0x65) {
        let p = opAt + 1;
        p += m[p] & 0x80 ? 1 + (m[p] & 0x7f) : 1;
        code = m[p + 2];
      }
      onMessage(tag, code);
    }
  });
}

let ops = 0, errors = 0, stop = false;
const deadline = Date.now() + duration;

function searchLoop() {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => s.write(bind(1)));
    s.setNoDelay(true);
    let entries = 0;
    reader(s, (tag, code) => {
      if (tag === 0x61) {
        if (code !== 0) errors++;
        s.write(search(2, randomUser()));
      } else if (tag === 0x64) entries++;
      else if (tag === 0x65) {
        if (code === 0 && entries === 1) ops++;
        else errors++;
        entries = 0;
        if (Date.now() >= deadline) {
          s.end(unbind(3));
          resolve();
        } else s.write(search(2, randomUser()));
      }
    });
    s.on("error", () => { errors++; resolve(); });
  });
}

function bindSearchOnce() {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => s.write(bind(1)));
    s.setNoDelay(true);
    let entries = 0, done = false;
    const finish = (ok) => { if (done) return; done = true; ok ? ops++ : errors++; s.end(unbind(3)); s.destroySoon?.(); resolve(); };
    reader(s, (tag, code) => {
      if (tag === 0x61) {
        if (code !== 0) return finish(false);
        s.write(search(2, randomUser()));
      } else if (tag === 0x64) entries++;
      else if (tag === 0x65) finish(code === 0 && entries === 1);
    });
    s.on("error", () => finish(false));
  });
}

async function bindSearchLoop() {
  while (Date.now() < deadline) await bindSearchOnce();
}

const started = Date.now();
const loop = scenario === "search" ? searchLoop : bindSearchLoop;
await Promise.all(Array.from({ length: connections }, loop));
const seconds = (Date.now() - started) / 1000;
// The load generator's own CPU: when it is near one core, the server is not what limits the rate.
const { user, system } = process.cpuUsage();
const clientCores = Math.round(((user + system) / 1e6 / seconds) * 100) / 100;
console.log(JSON.stringify({ ops, seconds, rate: Math.round(ops / seconds), errors, clientCores }));
