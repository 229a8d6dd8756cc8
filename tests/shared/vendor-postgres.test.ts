import assert from "node:assert/strict";
// @ts-types="postgres"
import postgres from "@shared/vendor/postgres/src/index.js";
import { crypto as pgCrypto } from "@shared/vendor/postgres/polyfills.js";
import { createDb } from "@shared/db.ts";
import { freePort } from "@local/ports.ts";
import { join } from "@local/paths.ts";
import { packageDir, pinnedVersion, VENDOR_DIR, vendoredSources } from "@local/vendor-postgres.ts";
import { adminDb, stack } from "../support/stack.ts";

const withUrl = (edit: (url: URL) => void) => {
  const url = new URL(stack().dbUrl);
  edit(url);
  return url.toString();
};

/** Opens one connection, runs `fn`, and always closes it. */
async function withDb<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = createDb(url, { max: 1 });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

Deno.test("the vendored postgres.js is the pinned package's cf build, one import changed", async () => {
  const version = pinnedVersion();
  assert.equal(Deno.readTextFileSync(join(VENDOR_DIR, "VERSION")).trim(), version);
  const expected = vendoredSources(await packageDir(version));
  const actual = new Map(
    [...Deno.readDirSync(join(VENDOR_DIR, "src"))]
      .map((e) => e.name)
      .sort()
      .map((name) => [name, Deno.readTextFileSync(join(VENDOR_DIR, "src", name))]),
  );
  assert.deepEqual([...actual.keys()], [...expected.keys()]);
  for (const [name, text] of expected) assert.equal(actual.get(name), text, `src/${name}`);
  // The point of the copy: nothing but node:buffer (and node:events in polyfills.js) at import.
  const nodeImports = [...actual.values(), Deno.readTextFileSync(join(VENDOR_DIR, "polyfills.js"))]
    .flatMap((text) => [...text.matchAll(/^import .* from '(node:[a-z_/]+)'/gm)].map((m) => m[1]));
  assert.deepEqual([...new Set(nodeImports)].sort(), ["node:buffer", "node:events"]);
});

Deno.test("the polyfill's hashes match the published test vectors (MD5 through node:crypto)", async () => {
  assert.equal(
    await pgCrypto.createHash("md5").update("").digest("hex"),
    "d41d8cd98f00b204e9800998ecf8427e",
  );
  assert.equal(
    await pgCrypto.createHash("sha256").update("abc").digest("hex"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  // RFC 4231, test case 2.
  assert.equal(
    (await pgCrypto.createHmac("sha256", new TextEncoder().encode("Jefe"))
      .update("what do ya want for nothing?").digest()).toString("hex"),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
});

Deno.test("plain TCP with SCRAM-SHA-256: values parse as with the Node build", async () => {
  await withDb(stack().dbUrl, async (sql) => {
    const [row] = await sql`
      select s.ssl, a.client_addr is not null as tcp, 41 + ${1}::int as n, true as yes,
             '{"a":[1,2]}'::jsonb as j, array['x','y'] as arr, ${"é😀"}::text as text,
             '2026-12-02T10:00:00Z'::timestamptz as at
        from pg_stat_ssl s join pg_stat_activity a using (pid)
       where pid = pg_backend_pid()`;
    assert.deepEqual({ ...row, at: row.at.toISOString() }, {
      ssl: false,
      tcp: true,
      n: 42,
      yes: true,
      j: { a: [1, 2] },
      arr: ["x", "y"],
      text: "é😀",
      at: "2026-12-02T10:00:00.000Z",
    });
    // Rows larger than one read (64 KiB) arrive whole.
    const [big] = await sql`select repeat('x', 300000) as s`;
    assert.equal(big.s.length, 300000);
    const error = await sql`select 1 / 0`.catch((e) => e);
    assert.equal(error.code, "22012");
    // The connection survives the error and keeps its order under pipelining.
    const many = await Promise.all(
      Array.from({ length: 50 }, (_, i) => sql`select ${i}::int as i`),
    );
    assert.deepEqual(many.map(([r]) => r.i), Array.from({ length: 50 }, (_, i) => i));
  });
});

Deno.test("a wrong password is refused with 28P01, a closed port with a connection error", async () => {
  const wrong = await withDb(
    withUrl((u) => u.password = "not-the-password"),
    (sql) => sql`select 1`.catch((e) => e),
  );
  assert.equal(wrong.code, "28P01");
  const closed = await withDb(
    withUrl((u) => u.port = String(freePort())),
    (sql) => sql`select 1`.catch((e) => e),
  );
  assert.ok(closed instanceof Error);
  assert.match(closed.message, /refused/i);
});

Deno.test("a Unix socket connection (local trust) runs on Deno.connect", async () => {
  const port = Number(new URL(stack().dbUrl).port);
  const sql = postgres({ host: "/tmp", port, user: "postgres", database: "postgres", max: 1 });
  try {
    const [row] = await sql`select client_addr is null as unix
                              from pg_stat_activity where pid = pg_backend_pid()`;
    assert.equal(row.unix, true);
  } finally {
    await sql.end({ timeout: 1 });
  }
});

/** Turns TLS on in the test cluster with a fresh self-signed certificate, runs `fn`, turns it off. */
async function withServerTls(fn: () => Promise<void>): Promise<void> {
  const dir = stack().dataDir;
  const [crt, key] = [join(dir, "test-tls.crt"), join(dir, "test-tls.key")];
  const openssl = await new Deno.Command("openssl", {
    args: ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
      .concat(["-keyout", key, "-out", crt]),
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(openssl.code, 0, new TextDecoder().decode(openssl.stderr));
  await Deno.chmod(key, 0o600);
  if (Deno.uid() === 0) {
    const chown = await new Deno.Command("chown", { args: ["postgres:postgres", crt, key] })
      .output();
    assert.equal(chown.code, 0);
  }
  // Server settings are the platform's (supabase_admin's), not the project's.
  const admin = adminDb(1);
  try {
    // ALTER SYSTEM takes no parameters; the paths are ours and hold no quotes.
    await admin.unsafe(`alter system set ssl_cert_file = '${crt}'`);
    await admin.unsafe(`alter system set ssl_key_file = '${key}'`);
    await admin`alter system set ssl = on`;
    await admin`select pg_reload_conf()`;
    await fn();
  } finally {
    await admin`alter system reset ssl`;
    await admin`alter system reset ssl_cert_file`;
    await admin`alter system reset ssl_key_file`;
    await admin`select pg_reload_conf()`;
    await admin.end();
    await Deno.remove(crt).catch(() => {});
    await Deno.remove(key).catch(() => {});
  }
}

Deno.test("sslmode=require encrypts without verifying (as the Node build); verify-full verifies", async () => {
  await withServerTls(async () => {
    // pg_reload_conf() only signals the postmaster: retry until new backends offer TLS.
    const require = withUrl((u) => u.searchParams.set("sslmode", "require"));
    let row: { ssl: boolean; version: string } | undefined;
    for (let i = 0; i < 50 && !row; i++) {
      row = await withDb(require, (sql) =>
        sql<{ ssl: boolean; version: string }[]>`
          select ssl, version from pg_stat_ssl where pid = pg_backend_pid()`
          .then(([r]) => r)).catch(() => undefined);
      if (!row) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(row?.ssl, true);
    assert.match(row!.version, /^TLSv1\.[23]$/);
    const full = withUrl((u) => u.searchParams.set("sslmode", "verify-full"));
    const refused = await withDb(full, (sql) => sql`select 1`.catch((e) => e));
    assert.ok(refused instanceof Error);
    assert.match(refused.message, /certificate/i);
  });
});
