// node-postgres (pg) and pg-cursor against the real kimberlite binary
// (KIMBERLITE_BIN): typed parameters in and out, errors with SQLSTATE,
// and a cursor read in batches through portals with row limits.
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { Client } = require('pg');
const Cursor = require('pg-cursor');

let server;
let dsn;

before(async () => {
  const binary = process.env.KIMBERLITE_BIN || 'target/debug/kimberlite';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kimberlite-node-'));
  server = spawn(binary, ['dev', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const lines = readline.createInterface({ input: server.stdout });
  dsn = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server printed no DSN')), 60000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      const match = line.match(/(postgres:\/\/\S+)/);
      match ? resolve(match[1]) : reject(new Error(`no DSN in ${line}`));
    });
  });
});

after(() => server.kill('SIGTERM'));

test('parameters of every common type round-trip', async () => {
  const client = new Client({ connectionString: dsn });
  await client.connect();
  await client.query(`CREATE TABLE nd (id int PRIMARY KEY, name text, big bigint,
    ok boolean, price numeric(8,2), at timestamptz, day date, raw bytea, doc jsonb)`);
  const at = new Date(Date.UTC(2024, 1, 29, 13, 14, 15, 123));
  await client.query('INSERT INTO nd VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
    [1, "héllo 'world'", '9000000000000', true, '12.50', at, '1999-12-31',
      Buffer.from([0, 1, 255]), { a: [1, null] }]);
  const { rows } = await client.query('SELECT * FROM nd WHERE id = $1', [1]);
  assert.deepStrictEqual(rows[0].name, "héllo 'world'");
  assert.strictEqual(rows[0].big, '9000000000000');
  assert.strictEqual(rows[0].ok, true);
  assert.strictEqual(rows[0].price, '12.50');
  assert.strictEqual(rows[0].at.getTime(), at.getTime());
  assert.deepStrictEqual(rows[0].raw, Buffer.from([0, 1, 255]));
  assert.deepStrictEqual(rows[0].doc, { a: [1, null] });
  await assert.rejects(client.query('INSERT INTO nd (id) VALUES ($1)', [1]),
    (e) => e.code === '23505' && e.constraint === 'nd_pkey');
  await assert.rejects(client.query('SELECT * FROM nope'), (e) => e.code === '42P01');
  assert.strictEqual((await client.query('SELECT count(*) AS n FROM nd')).rows[0].n, '1');
  await client.end();
});

test('pg-cursor reads 5000 rows in batches of 700', async () => {
  const client = new Client({ connectionString: dsn });
  await client.connect();
  await client.query('CREATE TABLE nc (id int PRIMARY KEY)');
  await client.query('INSERT INTO nc SELECT value::int FROM generate_series(1, 5000) AS value');
  const cursor = client.query(new Cursor('SELECT id FROM nc WHERE id > $1 ORDER BY id', [0]));
  const sizes = [];
  const seen = [];
  for (;;) {
    const batch = await cursor.read(700);
    if (batch.length === 0) break;
    sizes.push(batch.length);
    for (const row of batch) seen.push(row.id);
  }
  await cursor.close();
  assert.deepStrictEqual(sizes, [700, 700, 700, 700, 700, 700, 700, 100]);
  assert.deepStrictEqual(seen, Array.from({ length: 5000 }, (_, i) => i + 1));
  await client.end();
});
