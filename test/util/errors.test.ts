/**
 * The one errors module: every kind has an exit status, the CLI says an error in one line (a
 * config error: one per problem), and a restated error keeps its kind but not its cause.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import {
  ApiAnswerError, CollectorError, ConfigError, ERROR_KINDS, EXIT, type ErrorKind, MimelogError, OAuthError, RequestRejectedError, UsageError,
  errorText, exitStatus, isKind, restated,
} from '../../src/util/errors.js';
import { BIN } from '../support/helpers.js';

describe('errors', () => {
  it('gives every kind an exit status, and an unexpected error the failure status', () => {
    for (const kind of Object.keys(ERROR_KINDS) as ErrorKind[]) {
      assert.equal(exitStatus(new MimelogError(kind, 'x')), EXIT.failure, kind);
    }
    assert.equal(exitStatus(new TypeError('x')), EXIT.failure);
    assert.equal(exitStatus('a string'), EXIT.failure);
  });

  it('gives each class its kind: who must act', () => {
    assert.equal(new UsageError('x').kind, 'usage');
    assert.equal(new CollectorError('x').kind, 'source');
    assert.equal(new OAuthError('x').kind, 'credentials');
    assert.ok(new OAuthError('x') instanceof CollectorError, 'a refused OAuth client stops a collection like other collector errors');
    const rejected = new RequestRejectedError('bad token', 'err_token_expired');
    assert.ok(rejected instanceof ApiAnswerError);
    assert.equal(rejected.code, 'err_token_expired');
    assert.equal(new ConfigError('/etc/m.yaml', ['a', 'b']).kind, 'config');
    assert.ok(isKind(new MimelogError('filter', 'x'), 'filter'));
    assert.ok(!isKind(new MimelogError('store', 'x'), 'filter'));
    assert.ok(!isKind(new Error('x'), 'filter'));
  });

  it('says an error in one line; a config error lists every problem; an unexpected one says its name', () => {
    assert.equal(errorText(new MimelogError('store', 'cannot open the store x\n  at somewhere')), 'cannot open the store x');
    assert.equal(errorText(new ConfigError('m.yaml', ['sources[0].kind: unknown', 'listen: not an address'])), 'config m.yaml: 2 problems:\n  sources[0].kind: unknown\n  listen: not an address');
    assert.equal(errorText(new ConfigError('m.yaml', ['no such file'])), 'config m.yaml: no such file');
    assert.equal(errorText(new TypeError('x is not a function\nstack')), 'TypeError: x is not a function');
    assert.equal(errorText(new Error('plain\nmore')), 'plain');
  });

  it('restates an error with its kind and without its cause (whose text may hold a secret)', () => {
    const original = new MimelogError('search_engine', 'refused https://user:hunter2@x', { cause: new Error('hunter2') });
    const said = restated(original, 'refused https://[redacted]@x', 'usage');
    assert.equal(said.kind, 'search_engine');
    assert.equal(said.cause, undefined);
    assert.equal(restated(new Error('boom'), 'boom', 'store').kind, 'store');
  });

  it('the CLI prints an error of a lower layer as itself, one line, exit 1 (no wrapping into usage errors)', () => {
    // The bound comes from the settings table (the flag's parser); its message names the flag, the range and why.
    const r = spawnSync(BIN, ['retain', '--days', '3', '--db', '/nonexistent/dir/m.db'], { encoding: 'utf8' });
    assert.equal(r.status, EXIT.failure);
    assert.match(r.stderr, /^mimelog: --days: at least \d+ days/);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  });
});
