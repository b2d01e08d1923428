/**
 * An evidence export interrupted while it copies originals (an outside probe: 9 of 25 random
 * kill -9 left originals in a partial directory, on what may be a USB drive, with no entry
 * naming the copy). The copy is registered before the first original is read
 * (`evidence.started`); SIGTERM, Ctrl-C and SIGHUP cancel it: the partial directory removed and
 * the failure registered. strace holds the process at the moment it opens its first original.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, runCli } from '../support/cli.js';
import { sleep, until } from '../support/daemon.js';
import { evidenceBox, evidenceRequest } from '../support/evidence-box.js';

async function auditActions(data: string): Promise<Array<{ action: string; details: Record<string, unknown> }>> {
  return (JSON.parse((await runCli(['audit', '--data', data, '--json'])).stdout) as { entries: Array<{ action: string; details: Record<string, unknown> }> }).entries;
}

/** The CLI's evidence under strace: `inject` applied when it opens the first original. */
function tracedEvidence(data: string, first: string, out: string, inject: string) {
  const child = spawn('strace', ['-f', '-qq', '-o', '/dev/null', '-P', first, '-e', 'trace=openat,open', '-e', `inject=openat,open:${inject}`,
    process.execPath, CLI, ...evidenceRequest(data, 0, Date.now(), out)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += String(d); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('close', (code, signal) => r({ code, signal })));
  return { child, exited, stderr: () => stderr };
}

t.test('killed while copying the originals: the copy is on record (evidence.started), not finished', async (t) => {
  const dir = t.testdir();
  const { data, segments } = await evidenceBox(dir, 'box-kill');
  mkdirSync(join(dir, 'usb'));
  const out = join(dir, 'usb', 'case-1');
  const run = tracedEvidence(data, join(data, segments[0]!.path), out, 'signal=SIGKILL');
  const { code, signal } = await run.exited;
  t.ok(signal === 'SIGKILL' || code === 137, `killed at its first original (${signal ?? code}: ${run.stderr().slice(-300)})`);
  t.notOk(existsSync(out), 'no bundle');
  const entries = await auditActions(data);
  const started = entries.find((e) => e.action === 'evidence.started');
  t.ok(started, `the copy is registered before it began: ${JSON.stringify(entries.map((e) => e.action))}`);
  t.match(started!.details, { out, partial: new RegExp(`/usb/\\.case-1\\.partial-`) }, 'naming where the originals were going');
  t.notOk(entries.some((e) => e.action === 'evidence'), 'and never as finished');
});

t.test('SIGTERM and SIGHUP while copying: cancelled, the partial bundle removed, the failure on record', async (t) => {
  const dir = t.testdir();
  const { data, segments } = await evidenceBox(dir, 'box-cancel');
  for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
    const usb = join(dir, `usb-${sig}`);
    mkdirSync(usb);
    const out = join(usb, 'case-1');
    // held 3 s as it opens its first original: the signal arrives in the middle of the copy
    const run = tracedEvidence(data, join(data, segments[0]!.path), out, 'delay_enter=3000000');
    await until(() => readdirSync(usb).some((f) => f.includes('.partial-')), 30000, 'the partial bundle');
    await sleep(500);
    const node = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).find((p) => {
      try { return readFileSync(`/proc/${p}/stat`, 'utf8').split(' ')[3] === String(run.child.pid); } catch { return false; }
    });
    t.ok(node, 'the command under strace');
    process.kill(Number(node), sig);
    const { code } = await run.exited;
    t.equal(code, 1, `${sig}: the command fails (${run.stderr().slice(-300)})`);
    t.match(run.stderr(), `cancelled: ${sig} received; nothing was written`);
    t.same(readdirSync(usb), [], `${sig}: no bundle, no partial directory`);
    const failed = (await auditActions(data)).filter((e) => e.action === 'evidence.failed');
    t.ok(failed.some((e) => String(e.details.error).includes(`${sig} received`)), `${sig}: the failure is registered`);
  }
});
