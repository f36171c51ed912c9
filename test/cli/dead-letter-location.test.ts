/**
 * A dead letter of an API 2.0 batch file names where it came from: the source (kind and URL), the
 * API 2.0 type (and our log type where it is named otherwise) and the file's key, with the line.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SIEM_PRODUCTS, logTypeForV2 } from '../../src/mimecast/products.js';
import { runCli } from '../support/helpers.js';
import { query, withSimulator } from '../support/simulator.js';

describe('API 2.0 dead letters', () => {
  it('name the source, the type and the file key of a corrupt line, and replay still reads the file by its own name', { timeout: 60_000 }, async () => {
    // Content faults are permanent and need no rate: file 2 (index % 11 === 2) holds a line cut mid-record as its 2nd line.
    await withSimulator({ seed: 291, events: 600, eventsPerFile: 100, faults: { enabled: ['malformed-line'], rate: 0, seed: 1 } }, async (r) => {
      const db = join(r.dir, 'dl.db');
      const env = { MIMECAST_CLIENT_ID: r.info.v2Credentials.clientId, MIMECAST_CLIENT_SECRET: r.info.v2Credentials.clientSecret };
      const res = await runCli(['collect', '--api', 'v2', '--url', r.info.url, '--db', db, '--once', '--retry-base-ms', '20', '--timeout', '5'], { env });
      assert.equal(res.code, 2, res.stderr.slice(-1500)); // 2: something was dead-lettered
      const broken = r.sim.catalog[2]!;
      const v2Type = SIEM_PRODUCTS.cg.types.find((t) => t.name === broken.logType)!.v2Types[0]!;
      assert.equal(logTypeForV2(v2Type), broken.logType);
      const dead = query<{ source: string; position: number }>(db, 'SELECT source, position FROM dead_letters');
      assert.equal(dead.length, 1, JSON.stringify(dead));
      const origin = new URL(r.info.url).origin;
      const typeText = v2Type === broken.logType ? v2Type : `${v2Type} (${broken.logType})`;
      const key = query<{ key: string }>(db, 'SELECT key FROM work_items WHERE stream = ?', `mimecast-v2 ${origin} ${v2Type}`).map((w) => w.key)
        .find((k) => dead[0]!.source.endsWith(` file ${k}`));
      assert.ok(key, `the dead letter names one of the type's files: ${dead[0]!.source}`);
      assert.equal(dead[0]!.source, `mimecast-v2 ${origin} ${typeText} file ${key}`);
      assert.equal(dead[0]!.position, 2, 'the line');

      // `mimelog dead-letters` says the same, as JSON and as a table.
      const listed = await runCli(['dead-letters', '--db', db, '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      const row = JSON.parse(listed.stdout) as { source: string; position: number; reason: string; raw: string };
      assert.deepEqual([row.source, row.position], [dead[0]!.source, 2]);
      assert.equal(row.raw, '{"type":"receipt","timestamp":"17000000', 'the kept bytes');
      const text = await runCli(['dead-letters', '--db', db]);
      assert.ok(text.stdout.includes(`  source  ${dead[0]!.source}\n`), text.stdout);
      assert.match(text.stderr, /^1 dead letters\n$/);

      // The file's own name is still its type signal: replay reads the kept line as that type (and it still fails: it is cut).
      const replay = await runCli(['replay', '--db', db, '--json']);
      assert.equal(replay.code, 2, replay.stderr);
      assert.deepEqual(query(db, 'SELECT source FROM dead_letters'), [{ source: dead[0]!.source }]);
      // Every other event of the file is stored under the type its file name says.
      const types = query<{ log_type: string }>(db, 'SELECT DISTINCT log_type FROM stored_events WHERE source = ?', dead[0]!.source);
      assert.deepEqual(types, [{ log_type: broken.logType }]);
    });
  });
});
