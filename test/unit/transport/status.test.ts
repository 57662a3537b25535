import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Code, InvalidArgumentError, NotFoundError, SwarmError } from '../../../src/host/api/errors.js';
import { errorFromCallFailure, errorFromStatus, isTransient, statusFromError } from '../../../src/host/transport/index.js';

test('maps every gRPC code to a SwarmError with that code and message, and back', () => {
  for (let code = Code.CANCELLED; code <= Code.UNAUTHENTICATED; code++) {
    const e = errorFromStatus(code, `msg ${code}`);
    assert.equal(e.code, code);
    assert.equal(e.message, `msg ${code}`);
    assert.deepEqual(statusFromError(e), { code, details: `msg ${code}` });
  }
  assert.ok(errorFromStatus(Code.INVALID_ARGUMENT, 'x') instanceof InvalidArgumentError);
  assert.ok(errorFromStatus(Code.NOT_FOUND, 'x') instanceof NotFoundError);
});

test('maps an out-of-range status code to UNKNOWN', () => {
  assert.equal(errorFromStatus(99, 'weird').code, Code.UNKNOWN);
});

test('sends non-SwarmError failures as UNKNOWN with their message', () => {
  assert.deepEqual(statusFromError(new TypeError('bad')), { code: Code.UNKNOWN, details: 'bad' });
  assert.deepEqual(statusFromError('str'), { code: Code.UNKNOWN, details: 'str' });
});

test('reads a grpc-js ServiceError shape', () => {
  const e = errorFromCallFailure(Object.assign(new Error('5 NOT_FOUND: node x'), { code: 5, details: 'node x' }));
  assert.ok(e instanceof NotFoundError);
  assert.equal(e.message, 'node x');
  assert.ok(errorFromCallFailure(new SwarmError(Code.ABORTED, 'a')) instanceof SwarmError);
});

test('treats deadline, aborted and unavailable as transient, and nothing else', () => {
  const transient = [Code.DEADLINE_EXCEEDED, Code.ABORTED, Code.UNAVAILABLE];
  for (let code = Code.CANCELLED; code <= Code.UNAUTHENTICATED; code++) {
    assert.equal(isTransient(errorFromStatus(code, 'x')), transient.includes(code), `code ${code}`);
  }
  assert.equal(isTransient(new Error('plain')), false);
});
