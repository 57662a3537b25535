/** Table tests for the constraint parser (grammar, keys, values, error messages) and the string matcher. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../../src/host/api/errors.js';
import { NodeRole } from '../../../src/host/api/objects.js';
import { goTrimSpace, nodeMatches, OP_EQ, OP_NE, parseConstraints } from '../../../src/host/scheduler/constraint.js';
import { makeNode } from './fixtures.js';

test('parses key op value with == tried before != and sides trimmed', () => {
  const cases: [string, string, number, string][] = [
    ['node.labels.zone==a', 'node.labels.zone', OP_EQ, 'a'],
    ['  node.role  !=  manager ', 'node.role', OP_NE, 'manager'],
    ['node.labels.x == a b', 'node.labels.x', OP_EQ, 'a b'],
    ['engine.labels.os==Linux', 'engine.labels.os', OP_EQ, 'Linux'],
    ['node.ip==10.0.0.0/8', 'node.ip', OP_EQ, '10.0.0.0/8'],
    ['NODE.LABELS.Zone == (x)?+[y]^$|/\\*', 'NODE.LABELS.Zone', OP_EQ, '(x)?+[y]^$|/\\*'],
    ['_k == v', '_k', OP_EQ, 'v'],
  ];
  for (const [expr, key, op, value] of cases) {
    const [c] = parseConstraints([expr]);
    assert.deepEqual({ key: c!.key, op: c!.op, value: c!.value }, { key, op, value }, expr);
  }
});

test('refuses malformed expressions with SwarmKit messages naming the expression', () => {
  const cases: [string, string][] = [
    ['node.labels.zone = a', "constraint 'node.labels.zone = a': constraint expected one operator from ==, !="],
    ['node.labels.zone > a', "constraint 'node.labels.zone > a': constraint expected one operator from ==, !="],
    ['a == b', "constraint 'a == b': key 'a' is invalid"],
    ['9node == b', "constraint '9node == b': key '9node' is invalid"],
    ['node.labels.zone !== a', "constraint 'node.labels.zone !== a': key 'node.labels.zone !' is invalid"],
    ['no de == b', "constraint 'no de == b': key 'no de' is invalid"],
    // Split at the first '=='; the rest 'a==b' holds '=', which the value syntax refuses.
    ['node.labels.v==a==b', "constraint 'node.labels.v==a==b': value 'a==b' is invalid"],
    ['node.id == ', "constraint 'node.id == ': value '' is invalid"],
    ['node.id == a>b', "constraint 'node.id == a>b': value 'a>b' is invalid"],
    ['node.id == a~b', "constraint 'node.id == a~b': value 'a~b' is invalid"],
    ['node.id == é', "constraint 'node.id == é': value 'é' is invalid"],
    ['node.id == a\u000bb', "constraint 'node.id == a\u000bb': value 'a\u000bb' is invalid"],
  ];
  for (const [expr, msg] of cases) {
    assert.throws(
      () => parseConstraints([expr]),
      (e: unknown) => e instanceof InvalidArgumentError && e.message === msg,
      expr,
    );
  }
});

test('trims white space the way Go does (NEL yes, BOM no)', () => {
  assert.equal(goTrimSpace('\u0085 a \u00a0'), 'a');
  assert.equal(goTrimSpace('\ufeffa'), '\ufeffa');
  assert.throws(() => parseConstraints(['\ufeffnode.id == a']), /key '\ufeffnode.id' is invalid/);
});

test('an empty list matches every node and a list is an AND', () => {
  const n = makeNode({ id: 'n1', labels: { zone: 'a', rack: '1' } });
  assert.equal(nodeMatches([], n), true);
  assert.equal(nodeMatches(parseConstraints(['node.labels.zone == a', 'node.labels.rack == 1']), n), true);
  assert.equal(nodeMatches(parseConstraints(['node.labels.zone == a', 'node.labels.rack == 2']), n), false);
});

test('matches every key kind with SwarmKit case rules and missing values read as empty', () => {
  const n = makeNode({ id: 'AbC', hostname: 'Web-1', role: NodeRole.MANAGER, os: 'linux', arch: 'x86_64', labels: { Zone: 'East' }, engineLabels: { disk: 'SSD' }, addr: '192.168.1.20' });
  const bare = makeNode({ id: 'bare', noDescription: true, addr: 'not-an-ip' });
  const table: [string, boolean, boolean][] = [
    // expression, on n, on bare
    ['node.id == abc', true, false],
    ['node.hostname == web-1', true, false],
    ['node.hostname != web-1', false, true],
    ['node.role == manager', true, false],
    ['node.role == worker', false, true],
    ['node.platform.os == LINUX', true, false],
    ['node.platform.arch == x86_64', true, false],
    ['node.platform.arch == amd64', false, false],
    ['node.labels.Zone == east', true, false],
    ['node.labels.zone == east', false, false],
    ['node.labels.zone != east', true, true],
    ['Node.Labels.Zone == EAST', true, false],
    ['engine.labels.disk == ssd', true, false],
    ['engine.labels.disk != ssd', false, true],
    ['node.ip == 192.168.1.20', true, false],
    ['node.ip != 192.168.1.20', false, true],
    ['node.ip == ::ffff:192.168.1.20', true, false],
    ['node.ip == 192.168.1.0/24', true, false],
    ['node.ip != 192.168.1.0/24', false, true],
    ['node.ip == 192.168.2.0/24', false, false],
    ['node.ip == 2001:db8::/32', false, false],
    ['node.ip == bogus', false, false],
    ['node.ip != bogus', false, false],
    ['node.unknown == x', false, false],
    ['node.unknown != x', false, false],
  ];
  for (const [expr, onN, onBare] of table) {
    const cs = parseConstraints([expr]);
    assert.equal(nodeMatches(cs, n), onN, `${expr} on n`);
    assert.equal(nodeMatches(cs, bare), onBare, `${expr} on bare`);
  }
});

test('a label named like an Object prototype key is just a label', () => {
  const n = makeNode({ id: 'n', labels: {} });
  assert.equal(nodeMatches(parseConstraints(['node.labels.constructor != x']), n), true);
  assert.equal(nodeMatches(parseConstraints(['node.labels.constructor == x']), n), false);
});
