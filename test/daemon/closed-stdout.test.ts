/**
 * What an outside probe did on 2026-12-05: `edge-nvr verify-evidence B | head -c0` (also
 * `checkpoint`, `audit`) crashed with "Unhandled 'error' event ... write EPIPE" and a stack trace,
 * exit 1, whatever the command's own outcome. A reader that went away is no failure of the command.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { CLI, runCli } from '../support/cli.js';

/** The built CLI with its stdout a pipe whose reader is gone before the command starts writing. */
function runClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // closes our end of the pipe long before Node in the child has started
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += String(d); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stderr }); });
  });
}

t.test('a closed stdout ends a command quietly, with its own exit code', async (t) => {
  const data = join(t.testdir(), 'data');
  const catalog = Catalog.open(data);
  catalog.addGap('gate', 0, 1000, 'camera_unreachable');
  catalog.close();
  const cases: Array<[string[], number]> = [
    [['--help'], 0],
    [['audit', '--data', data], 0],
    [['audit', '--help'], 0],
    [['checkpoint', '--data', data], 0],
    [['verify-evidence', join(data, 'no-such-bundle')], 1],
  ];
  for (const [args, code] of cases) {
    const normal = await runCli(args);
    t.equal(normal.code, code, `${args.join(' ')}: exit ${code} with a reader`);
    const r = await runClosedStdout(args);
    t.equal(r.code, code, `${args.join(' ')}: exit ${code} without one too`);
    t.notMatch(r.stderr, /Unhandled 'error'|EPIPE|\n\s+at /, `${args.join(' ')}: no stack trace (${r.stderr.trim().slice(0, 200)})`);
  }
  // what checkpoint did with nobody reading stays done: the chains it signed are still there
  t.equal((await runCli(['audit', '--verify', '--data', data])).code, 0, 'the audit chain verifies afterwards');
});
