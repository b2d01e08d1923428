import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { CameraSim } from './camera-sim.js';
import { runCli } from './cli.js';
import { DaemonProcess, writeConfig } from './daemon.js';

/** Debian's Chromium (scripts/setup installs it), headless, with nothing reaching out to the network. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** Screenshots and other artefacts a person may want to look at: kept after the test, the folder printed. */
export function artefactDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `edge-nvr-${name}-`));
}

/** `edge-nvr user add` through the real CLI, the password piped as an installer's script would. */
export async function addUser(usersArgs: string[], name: string, role: 'viewer' | 'manager', password: string): Promise<void> {
  const r = await runCli(['user', 'add', name, '--role', role, ...usersArgs], { input: `${password}\n` });
  if (r.code !== 0) throw new Error(`user add ${name} failed: ${r.stderr}`);
}

/** The URL the daemon said it serves on (`status page on URL`, `prometheus metrics on URL/metrics`). */
export async function servedUrl(daemon: DaemonProcess, what: 'page' | 'metrics'): Promise<string> {
  const re = what === 'page' ? /status page on (https?:\/\/[^\s"]+)/ : /prometheus metrics on (https?:\/\/[^\s"]+)/;
  await daemon.waitForLog(re, 60000);
  return re.exec(daemon.output)![1]!.replace(/\/metrics$/, "");
}

/**
 * A daemon recording one simulated camera (`cam1`) with its status page on loopback (plain HTTP)
 * and one manager, `ines` / `ines-password-one`; `wrap`: a command the daemon runs under (e.g.
 * prlimit). Everything is stopped when the test ends.
 */
export async function pageBox(t: { testdir(): string; teardown(fn: () => unknown): void }, opts: { wrap?: string[] } = {}): Promise<{ daemon: DaemonProcess; base: string }> {
  const cam = await new CameraSim({ mounts: ['cam1'] }).start();
  t.teardown(() => cam.kill());
  const dir = t.testdir();
  const config = writeConfig(dir, [{ id: 'cam1', url: cam.url('cam1') }], { extraYaml: 'http:\n  listen: 127.0.0.1:0\n' });
  mkdirSync(join(dir, 'data'), { recursive: true });
  await addUser(['--config', config], 'ines', 'manager', 'ines-password-one');
  const daemon = new DaemonProcess(config, ['run'], {}, { wrap: opts.wrap }).start();
  t.teardown(() => { daemon.proc?.kill('SIGKILL'); });
  return { daemon, base: await servedUrl(daemon, 'page') };
}

/** Prometheus text exposition -> `name{labels}` -> value (labels as written, in order). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}
