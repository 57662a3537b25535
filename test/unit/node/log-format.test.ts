import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultLogFormat, formatLogLine, parseLogFormat } from '../../../src/host/node/log-format.js';
import { createLogger } from '../../../src/host/node/logger.js';

const T = Date.UTC(2026, 10, 26, 9, 30, 5, 123);

test('formats JSON log lines as time, level, [node component], message and fields', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ level: 30, time: T, pid: 1, hostname: 'h', 'node.id': 'w1gcbxjwzzmiope3t5j2xio7k', msg: 'node started', addr: '127.0.0.1:4242' }, '09:30:05.123 INFO  [w1gcbxjwzzmi] node started addr=127.0.0.1:4242\n'],
    [{ level: 40, time: T, hostname: 'node-1', component: 'agent', msg: 'retry', err: 'connect ECONNREFUSED', n: 3 }, '09:30:05.123 WARN  [node-1 agent] retry err="connect ECONNREFUSED" n=3\n'],
    [{ level: 50, time: T, msg: 'x', obj: { a: 1 }, nodeId: 'other' }, '09:30:05.123 ERROR x obj={"a":1} nodeId=other\n'],
    [{ level: 20, time: T, msg: 'dbg' }, '09:30:05.123 DEBUG dbg\n'],
  ];
  for (const [rec, want] of cases) assert.equal(formatLogLine(JSON.stringify(rec)), want);
});

test('passes lines that are not JSON objects through unchanged', () => {
  assert.equal(formatLogLine('plain text'), 'plain text\n');
  assert.equal(formatLogLine('[1,2]'), '[1,2]\n');
});

test('colours the level only when asked', () => {
  assert.match(formatLogLine(JSON.stringify({ level: 50, time: T, msg: 'm' }), { color: true }), /\x1b\[31mERROR\x1b\[0m m/);
});

test('--log-format accepts text and json and defaults to text on a terminal only', () => {
  assert.equal(parseLogFormat('json'), 'json');
  assert.equal(parseLogFormat('text'), 'text');
  assert.throws(() => parseLogFormat('yaml'), /--log-format must be text or json, got "yaml"/);
  assert.equal(defaultLogFormat(true), 'text');
  assert.equal(defaultLogFormat(false), 'json');
});

test('a text logger writes one readable line per event with the node id once it is known', () => {
  const out: string[] = [];
  let id = '';
  const log = createLogger({ format: 'text', bindings: { hostname: 'node-1' }, textOut: { write: (s) => out.push(s) }, dynamic: () => (id ? { 'node.id': id } : {}) });
  log.info({ a: 1 }, 'before');
  id = 'abcdefabcdefabcdefabcdefa';
  log.child({ component: 'dispatcher' }).warn({ nodeId: 'worker1' }, 'after');
  assert.equal(out.length, 2);
  assert.match(out[0]!, /^\d\d:\d\d:\d\d\.\d{3} INFO  \[node-1\] before a=1\n$/);
  assert.match(out[1]!, /^\d\d:\d\d:\d\d\.\d{3} WARN  \[abcdefabcdef dispatcher\] after nodeId=worker1\n$/);
});
