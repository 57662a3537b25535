import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Command } from 'commander';
import { EXIT_CODES_HELP, runSwarmctl, type SwarmctlIo } from '../../../src/host/cli/swarmctl.js';
import { bashCompletion } from '../../../src/host/cli/swarmctl-completion.js';

function io(): SwarmctlIo & { text: () => string } {
  let out = '';
  return {
    out: (s) => (out += s),
    err: (s) => (out += s),
    now: () => 0,
    env: {},
    connect: () => {
      throw new Error('no connection in help tests');
    },
    readStdin: async () => '',
    readFile: () => '',
    text: () => out,
  };
}

/** Every command path, from the completion script's case table (the script is generated from the tree). */
async function completionScript(): Promise<string> {
  const x = io();
  assert.equal(await runSwarmctl(['completion', 'bash'], x), 0);
  return x.text();
}

function commandPaths(script: string): string[] {
  return [...script.matchAll(/^ {4}'([^']*)'\) words=/gm)].map((m) => m[1]!).filter((p) => p !== '');
}

test('swarmctl --help lists every command group and documents the exit codes', async () => {
  const x = io();
  assert.equal(await runSwarmctl(['--help'], x), 0);
  for (const c of ['version', 'cluster', 'node', 'service', 'task', 'config', 'completion']) assert.match(x.text(), new RegExp(`\\n  ${c}\\b`));
  assert.ok(x.text().includes(EXIT_CODES_HELP.trim()));
  assert.match(x.text(), /3 {4}--detach=false/);
});

test('every command has a description and every option a help text', async () => {
  const paths = commandPaths(await completionScript());
  assert.ok(paths.includes('service logs') && paths.includes('service create') && paths.includes('node drain'));
  for (const p of paths) {
    const x = io();
    assert.equal(await runSwarmctl([...p.split(' '), '--help'], x), 0, p);
    const help = x.text();
    const lines = help.split('\n');
    const usage = lines.indexOf('');
    assert.ok(lines[usage + 1] !== undefined && lines[usage + 1] !== 'Options:' && lines[usage + 1]!.trim() !== '', `${p}: no description:\n${help}`);
    const opts = lines.slice(lines.indexOf('Options:') + 1);
    for (const l of opts) {
      if (l === '' || !l.startsWith('  -')) break;
      assert.match(l, /^ {2}\S.*\S {2,}\S/, `${p}: option without help: ${l}`);
    }
  }
});

test('an unknown command exits 1 (usage) and prints why', async () => {
  const x = io();
  assert.equal(await runSwarmctl(['servic', 'ls'], x), 1);
  assert.match(x.text(), /unknown command 'servic'/);
});

test('completion rejects shells other than bash', async () => {
  const x = io();
  assert.equal(await runSwarmctl(['completion', 'zsh'], x), 255);
  assert.match(x.text(), /only bash is supported/);
});

function complete(script: string, words: string[]): string[] {
  const line = words.map((w) => `'${w}'`).join(' ');
  const r = spawnSync('bash', ['-c', `${script}\nCOMP_WORDS=(${line}); COMP_CWORD=${words.length - 1}; _swarmctl_complete; printf '%s\\n' "\${COMPREPLY[@]}"`], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l !== '');
}

test('the bash completion script completes commands, sub-commands and options in bash', async () => {
  const script = await completionScript();
  assert.deepEqual(complete(script, ['swarmctl', 'ser']), ['service']);
  assert.deepEqual(complete(script, ['swarmctl', 'service', 'lo']), ['logs']);
  assert.deepEqual(complete(script, ['swarmctl', '-s', '/tmp/x.sock', 'service', 'logs', '--f']), ['--follow']);
  assert.deepEqual(complete(script, ['swarmctl', 'service', 'create', '--det']), ['--detach']);
  assert.deepEqual(complete(script, ['swarmctl', 'node', 'dr']), ['drain']);
  assert.ok(complete(script, ['swarmctl', '']).includes('completion'));
});

test('the completion script is generated from the command tree', () => {
  const p = new Command('tool');
  p.command('alpha').option('--one', 'x').command('deep');
  p.command('beta').alias('b');
  const s = bashCompletion(p);
  assert.match(s, /'alpha'\) words='deep --one --help'/);
  assert.match(s, /'alpha deep'\) words='--help'/);
  assert.match(s, /'b'\) words='--help'/);
  assert.match(s, /complete -F _tool_complete tool/);
});
