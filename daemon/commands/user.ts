/**
 * `edge-nvr user`: who may log in to the status page. Passwords are typed at a prompt (twice,
 * not echoed) or piped on stdin, never given as arguments, where `ps` and the shell history would
 * keep them. The daemon sees a change at the next login, without a restart; removing a user or
 * changing a password ends that user's open sessions.
 */
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FileLockBusy } from '../../common/file-lock.js';
import { isoTime } from '../../common/human.js';
import { PermissionDenied, permissionDenied } from '../../common/read-file.js';
import { checkName, checkPassword, checkRole, hashPassword, UsersFile, usersFilePath, type UserRecord } from '../../web/users.js';
import { DEFAULT_CONFIG, EXIT, parseCommand, UsageError, print, printJson } from '../args.js';

export const spec = {
  name: 'user',
  summary: 'Users of the status web page: viewers see the overview, managers also take redacted snapshots.',
  usage: 'user add NAME --role viewer|manager | user passwd NAME | user remove NAME | user list [--json]   [--config F | --data DIR | --users FILE]',
  options: {
    role: { type: 'string' }, json: { type: 'boolean' }, config: { type: 'string' }, data: { type: 'string' }, users: { type: 'string' },
  },
  help: {
    role: 'viewer (the overview) or manager (also redacted snapshots)',
    json: 'list as JSON (names, roles, dates; never hashes)',
    config: `config whose http.users_file (default <storage.path>/users.json) to use (default ${DEFAULT_CONFIG})`,
    data: 'data dir whose users.json to use, instead of reading the config',
    users: 'the users file itself',
  },
  positionals: 2,
} as const;

async function usersFile(v: { config?: string; data?: string; users?: string }): Promise<UsersFile> {
  if (v.users) return new UsersFile(resolve(v.users));
  if (v.data && !v.config) return new UsersFile(usersFilePath(undefined, resolve(v.data)));
  // the config loader only when the config is read (--users and --data start without it)
  const { loadConfig } = await import('../../config/load.js');
  const config = loadConfig(v.config ?? DEFAULT_CONFIG);
  return new UsersFile(resolve(usersFilePath(config.http, resolve(config.storage.path))));
}

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const v = args.values;
  const [action, rawName] = args.positionals;
  const file = await usersFile(v);
  const name = () => {
    if (!rawName) throw new UsageError(`user ${action}: give the user name`);
    try { return checkName(rawName); } catch (err) { throw new UsageError((err as Error).message); }
  };
  // a file that is not the users file is bad usage (exit 2); one this user may not read, or another
  // run holding the lock too long, a runtime failure (exit 1), said as such
  const usage = (err: unknown) => (err instanceof PermissionDenied || err instanceof FileLockBusy ? err : new UsageError((err as Error).message));
  const read = () => {
    try { return file.read(); } catch (err) { throw usage(err); }
  };
  /** read, changed and written under the file's lock: what was read before the password was asked may be out of date */
  const update = (change: (users: UserRecord[]) => UserRecord[]) => {
    try { file.update(change); } catch (err) { throw usage(err); }
  };
  folderOf(file.path);
  switch (action) {
    case 'add': {
      const n = name();
      let role;
      try { role = checkRole(v.role); } catch (err) { throw new UsageError(`user add: ${(err as Error).message}`); }
      const users = read();
      if (users.some((u) => u.name === n)) throw new UsageError(`user add: ${n} exists already; change the password with: edge-nvr user passwd ${n}`);
      const hash = await hashPassword(await newPassword(n));
      const now = Date.now();
      update((current) => {
        if (current.some((u) => u.name === n)) throw new UsageError(`user add: ${n} was added meanwhile by another run; change the password with: edge-nvr user passwd ${n}`);
        return [...current, { name: n, role, hash, created_ms: now, changed_ms: now }];
      });
      print(`user ${n} added (${role}) to ${file.path}\n`);
      return EXIT.ok;
    }
    case 'passwd': {
      const n = name();
      const users = read();
      const user = users.find((u) => u.name === n);
      if (!user) throw new UsageError(`user passwd: there is no user ${n} (see edge-nvr user list)`);
      const hash = await hashPassword(await newPassword(n));
      update((current) => {
        if (!current.some((u) => u.name === n)) throw new UsageError(`user passwd: ${n} was removed meanwhile by another run; nothing changed`);
        return current.map((u) => (u.name === n ? { ...u, hash, changed_ms: Date.now() } : u));
      });
      print(`password of ${n} changed; their open sessions end\n`);
      return EXIT.ok;
    }
    case 'remove': {
      const n = name();
      update((users) => {
        if (!users.some((u) => u.name === n)) throw new UsageError(`user remove: there is no user ${n} (see edge-nvr user list)`);
        return users.filter((u) => u.name !== n);
      });
      print(`user ${n} removed; their open sessions end\n`);
      return EXIT.ok;
    }
    case 'list':
    case undefined: {
      const users = read();
      const shown = users.map(({ name: n, role, created_ms, changed_ms }) => ({ name: n, role, created_ms, changed_ms }));
      if (v.json) printJson({ file: file.path, users: shown }, 2);
      else print(users.length === 0 ? `no users in ${file.path}; add one with: edge-nvr user add NAME --role viewer\n` : list(users));
      return EXIT.ok;
    }
    default:
      throw new UsageError(`user: unknown action "${action}"; expected add, passwd, remove or list`);
  }
}

/** The users file's folder must be there (a mistyped --data); one this user may not look into is said so, not "does not exist". */
function folderOf(path: string): void {
  try {
    statSync(dirname(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EACCES') throw permissionDenied(dirname(dirname(path)));
    throw new UsageError(`${dirname(path)} does not exist: wrong --data or --config, or the box is not installed yet`);
  }
}

function list(users: UserRecord[]): string {
  const w = Math.max(4, ...users.map((u) => u.name.length));
  return [`${'name'.padEnd(w)}  role     added                 password changed`,
    ...users.map((u) => `${u.name.padEnd(w)}  ${u.role.padEnd(7)}  ${isoTime(u.created_ms).padEnd(20)}  ${isoTime(u.changed_ms)}`)].join('\n') + '\n';
}

/** At a terminal: asked twice, not echoed. Otherwise the first line of stdin. */
async function newPassword(name: string): Promise<string> {
  let password: string;
  if (process.stdin.isTTY) {
    password = await prompt(`password for ${name}: `);
    if ((await prompt('again: ')) !== password) throw new UsageError('the two passwords differ; nothing changed');
  } else {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  }
  try { return checkPassword(password); } catch (err) { throw new UsageError((err as Error).message); }
}

function prompt(question: string): Promise<string> {
  return new Promise((resolvePrompt, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let typed = '';
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err); else resolvePrompt(typed);
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || ch === '\u0004') return done(new UsageError('cancelled; nothing changed'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}
