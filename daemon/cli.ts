#!/usr/bin/env node
/** `edge-nvr <command>`: each command lives in daemon/commands/<name>.ts and returns an exit code. */
import { EXIT, UsageError } from './args.js';
import { terminalText } from '../common/human.js';
import { ConfigError } from '../config/errors.js';


type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  run: { summary: 'run the daemon', load: async () => (await import('./commands/run.js')).run },
  demo: { summary: 'run the daemon on synthetic cameras, data under ./demo-data', load: async () => (await import('./commands/demo.js')).run },
  check: { summary: 'validate the config and pre-flight the box', load: async () => (await import('./commands/check.js')).run },
  discover: { summary: 'find ONVIF cameras on the local network', load: async () => (await import('./commands/discover.js')).run },
  probe: { summary: 'read a camera stream: codec, resolution, frame rate, bitrate, keyframes', load: async () => (await import('./commands/probe.js')).run },
  status: { summary: 'is the box recording, and how many days does it hold', load: async () => (await import('./commands/status.js')).run },
  reload: { summary: 'make the running daemon apply its config file again', load: async () => (await import('./commands/reload.js')).run },
  recordings: { summary: 'list recorded segments and gaps of a camera', load: async () => (await import('./commands/recordings.js')).run },
  export: { summary: 'export a redacted clip from the recordings', load: async () => (await import('./commands/export.js')).run },
  snapshot: { summary: 'take a redacted still image of a camera', load: async () => (await import('./commands/snapshot.js')).run },
  still: { summary: 'redact a live picture given as raw RGB on stdin into a still (tamper events use it)', load: async () => (await import('./commands/still.js')).run },
  redact: { summary: 'redact a video or image file', load: async () => (await import('./commands/redact.js')).run },
  verify: { summary: 'verify recordings against the catalog and its hash chain', load: async () => (await import('./commands/verify.js')).run },
  checkpoint: { summary: 'print the newest signed checkpoint of the chains (an anchor for verify --anchors)', load: async () => (await import('./commands/checkpoint.js')).run },
  evidence: { summary: 'export original recordings for an authority: chain proof, signed manifest, legal hold, registered', load: async () => (await import('./commands/evidence.js')).run },
  'verify-evidence': { summary: 'check an evidence bundle offline and print what it proves', load: async () => (await import('./commands/verify-evidence.js')).run },
  exports: { summary: 'list the exports and evidence bundles on the box', load: async () => (await import('./commands/exports.js')).run },
  uploads: { summary: 'list the deliveries of exports and evidence bundles to a platform, and how each went', load: async () => (await import('./commands/uploads.js')).run },
  hold: { summary: 'add, list and release legal holds', load: async () => (await import('./commands/hold.js')).run },
  user: { summary: 'add, list and remove the users of the status web page', load: async () => (await import('./commands/user.js')).run },
  audit: { summary: 'list and verify the audit log of exports, snapshots and commands', load: async () => (await import('./commands/audit.js')).run },
  tamper: { summary: "reset a camera's normal view and identity (audited), or show what the box knows of each view", load: async () => (await import('./commands/tamper.js')).run },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 3;
  return [
    'usage: edge-nvr <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    'edge-nvr <command> --help shows the options of a command; edge-nvr --version, the version.',
    'Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name ? EXIT.ok : EXIT.usage;
  }
  if (name === '--version' || name === 'version') {
    // what an installer or a bug report needs first; package-root.js is small and loads nothing else
    process.stdout.write(`edge-nvr ${(await import('./package-root.js')).packageVersion()}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`edge-nvr: unknown command "${name}"\n\n${help()}\n`);
    return EXIT.usage;
  }
  try {
    return await (await command.load())(rest);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(terminalText(err.issues.map((i) => `${err.source}: ${i}`).join('\n')) + '\n');
      return EXIT.usage;
    }
    if (err instanceof UsageError) {
      process.stderr.write(terminalText(`edge-nvr ${name}: ${err.message}`) + '\n');
      return EXIT.usage;
    }
    // SQLite's own words name neither the disk nor what was not done (an outside probe filled the
    // data disk: "database or disk is full" was all export said)
    const full = (err as { code?: string }).code === 'SQLITE_FULL'
      ? ': the data disk, where the catalog is, is full: the command stopped at the first thing it could not register; free space there (edge-nvr status shows it)' : '';
    // a failure's message may quote a camera, a file or a server: escaped like every output
    process.stderr.write(terminalText(`edge-nvr ${name}: ${(err as Error).message}${full}`) + '\n');
    return EXIT.failure;
  }
}

// A reader that went away (`edge-nvr audit | head -1`) makes the next write fail with EPIPE, and
// an unhandled 'error' event on stdout killed the command with a stack trace and exit 1 (an
// outside probe). Nobody is reading: later writes are dropped (the stream is destroyed) and the
// command ends as it would have, with its own exit code, what it already did staying done.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') return;
    throw err;
  });
}

process.exitCode = await main(process.argv.slice(2));
