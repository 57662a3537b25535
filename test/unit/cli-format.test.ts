import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goDuration, humanizeAge, parseDuration, table } from '../../src/host/cli/format.js';

test('tables have a dash row as long as each header word and two-space gaps', () => {
  const out = table(['ID', 'Name', 'Membership'], [['4spl3', 'node-1', 'ACCEPTED']]);
  assert.equal(out, 'ID     Name    Membership\n--     ----    ----------\n4spl3  node-1  ACCEPTED\n');
});

test('ages read like SwarmKit tables', () => {
  const now = 1_000_000_000;
  assert.equal(humanizeAge(now, now), 'now');
  assert.equal(humanizeAge(now - 28_000, now), '28 seconds ago');
  assert.equal(humanizeAge(now - 60_000, now), '1 minute ago');
  assert.equal(humanizeAge(now - 180_000, now), '3 minutes ago');
  assert.equal(humanizeAge(now - 2 * 3_600_000, now), '2 hours ago');
});

test('durations print and parse in Go form', () => {
  assert.equal(goDuration(2160 * 3_600_000), '2160h0m0s');
  assert.equal(goDuration(5000), '5s');
  assert.equal(goDuration(90_000), '1m30s');
  assert.equal(goDuration(250), '250ms');
  assert.equal(parseDuration('2160h', '--certexpiry'), 2160 * 3_600_000);
  assert.equal(parseDuration('1m30s', '--update-delay'), 90_000);
  assert.equal(parseDuration('0', '--update-delay'), 0);
  assert.throws(() => parseDuration('10', '--update-delay'), /invalid duration "10" for --update-delay/);
  assert.throws(() => parseDuration('5x', '--update-delay'), /invalid duration/);
});
