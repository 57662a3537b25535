import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../../src/host/api/index.js';
import { applyServiceFlags, parseBytes, parseCpus, specFromFlags } from '../../../src/host/cli/index.js';

describe('swarmctl flag parsing', () => {
  const cpus: [string, number][] = [
    ['1', 1e9],
    ['0.5', 5e8],
    ['0.001', 1e6],
    ['2.000000001', 2_000_000_001],
    ['0.123456789', 123_456_789],
  ];
  for (const [v, nano] of cpus) test(`--cpu-* ${v} is ${nano} nano-CPUs`, () => assert.equal(parseCpus(v, '--cpu-limit'), nano));
  for (const v of ['-1', 'abc', '1.2.3', '0.1234567891']) {
    test(`--cpu-* refuses "${v}"`, () => assert.throws(() => parseCpus(v, '--cpu-limit'), InvalidArgumentError));
  }

  const sizes: [string, number][] = [
    ['512m', 512 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['64k', 65536],
    ['4MiB', 4 * 1024 ** 2],
    ['1048576', 1048576],
    ['1.5g', 1.5 * 1024 ** 3],
  ];
  for (const [v, b] of sizes) test(`--memory-* ${v} is ${b} bytes`, () => assert.equal(parseBytes(v, '--memory-limit'), b));
  for (const v of ['', 'lots', '5x']) test(`--memory-* refuses "${v}"`, () => assert.throws(() => parseBytes(v, '--memory-limit'), InvalidArgumentError));

  test('flags not given leave the spec as it was', () => {
    const spec = specFromFlags({ name: 'a', image: 'nginx' });
    assert.deepEqual(applyServiceFlags(spec, {}), spec);
  });

  test('a rollback flag alone gives a lockstep rollback config; --rollback-on-failure refuses rollback', () => {
    const spec = specFromFlags({ name: 'a', image: 'nginx', rollbackOrder: 'start-first' });
    assert.deepEqual(spec.rollback, { parallelism: 0, delayMs: 0, failureAction: 0, monitorMs: 5000, maxFailureRatio: 0, order: 1 });
    assert.equal(spec.update, undefined);
    assert.throws(() => applyServiceFlags(spec, { rollbackOnFailure: 'rollback' }), /--rollback-on-failure: must be pause, continue \(got "rollback"\)/);
  });

  test('durations need units', () => {
    assert.throws(() => specFromFlags({ name: 'a', image: 'nginx', restartDelay: '10' }), /invalid duration "10" for --restart-delay/);
    assert.equal(specFromFlags({ name: 'a', image: 'nginx', restartDelay: '1m30s' }).task.restart.delayMs, 90_000);
  });
});
