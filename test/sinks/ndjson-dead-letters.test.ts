/** The NDJSON sink's dead-letter file: each line says where the record was read and, for an API feed's record, which feed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deadLetterJson } from '../../src/sinks/ndjson.js';
import { processInput, transformer } from '../support/helpers.js';

describe('ndjson dead-letter lines', () => {
  it('a feed\'s record keeps its feed; a file\'s record has none; bytes that are not text are base64', async () => {
    const deep = `{"eventTime":"2026-12-01T10:00:00+0000","n":${'['.repeat(100)}${']'.repeat(100)}}`;
    const fromFeed = await processInput('audit page 0', deep, transformer().forFeed('audit'));
    const fromFile = await processInput('in.ndjson', deep);
    const feedLine = JSON.parse(deadLetterJson(fromFeed.deadLetters[0]!)) as Record<string, unknown>;
    assert.deepEqual([feedLine.source, feedLine.position, feedLine.feed, feedLine.raw], ['audit page 0', 1, 'audit', deep]);
    assert.match(feedLine.reason as string, /nested deeper than 64/);
    assert.equal('feed' in (JSON.parse(deadLetterJson(fromFile.deadLetters[0]!)) as object), false);
    const binary = JSON.parse(deadLetterJson({ source: 'x.log', position: 0, reason: 'r', raw: Buffer.from([0xff, 0x00]) })) as Record<string, unknown>;
    assert.equal(binary.raw_base64, '/wA=');
  });
});
