/**
 * Who may log in to the status page: a JSON file (default `<data>/users.json`, mode 0600),
 * written by `edge-nvr user` and read by the daemon. Passwords are kept as scrypt hashes only;
 * a login compares in constant time, and an unknown name costs the same scrypt as a known one
 * so that timing does not tell which names exist.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileDurably } from '../common/durable-write.js';
import { withFileLock } from '../common/file-lock.js';
import { FileUnreadable, PermissionDenied, permissionDenied, readRegularFile } from '../common/read-file.js';

export const ROLES = ['viewer', 'manager'] as const;
export type Role = (typeof ROLES)[number];

export interface UserRecord {
  name: string;
  role: Role;
  /** scrypt$N$r$p$salt$hash, salt and hash in base64 */
  hash: string;
  created_ms: number;
  changed_ms: number;
}

export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,31}$/;
export const MIN_PASSWORD = 10;
export const MAX_PASSWORD = 1024;

/** Thousands of users, each a few hundred bytes: far more than a box's page has. */
const MAX_USERS_FILE_BYTES = 4 * 1024 * 1024;

/**
 * A change of the file takes milliseconds (the scrypt hash is made before the lock is taken), but
 * SQLite's busy handler polls the lock with growing sleeps, and six runs at once on a loaded
 * 2-core CI machine had one give up after 10 s: waiting longer costs a waiting run nothing.
 */
const LOCK_WAIT_MS = 30_000;

/** 2^15 x 8 x 128 B = 32 MiB per hash: about 0.1 s on a laptop core, under a second on a Pi 4. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keylen: 32 };

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 256 * SCRYPT.N * SCRYPT.r });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** A hash nobody's password matches, so that an unknown name is checked as slowly as a known one. */
let decoy: Promise<string> | undefined;

export async function verifyPassword(password: string, encoded: string | undefined): Promise<boolean> {
  const stored = encoded ?? (await (decoy ??= hashPassword(randomBytes(24).toString('base64'))));
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4]!, 'base64');
  const want = Buffer.from(parts[5]!, 'base64');
  if (!(N > 1 && N <= 2 ** 20 && r > 0 && r <= 32 && p > 0 && p <= 16 && want.length >= 16)) return false;
  const got = await scrypt(password.slice(0, MAX_PASSWORD), salt, want.length, { N, r, p, maxmem: 256 * N * r });
  return timingSafeEqual(got, want) && encoded !== undefined;
}

export function checkName(name: string): string {
  if (!NAME_PATTERN.test(name)) throw new Error(`user name ${JSON.stringify(name.slice(0, 40))}: expected 1 to 32 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit`);
  return name;
}

export function checkRole(role: string | undefined): Role {
  if (!ROLES.includes(role as Role)) throw new Error(`--role: expected ${ROLES.join(' or ')}${role ? `, got ${JSON.stringify(role)}` : ''}`);
  return role as Role;
}

export function checkPassword(password: string): string {
  if (password.length < MIN_PASSWORD) throw new Error(`the password is too short: expected at least ${MIN_PASSWORD} characters`);
  if (password.length > MAX_PASSWORD) throw new Error(`the password is too long: expected at most ${MAX_PASSWORD} characters`);
  return password;
}

/** `<data>/users.json` unless `http.users_file` names another. */
export function usersFilePath(http: { users_file?: string } | undefined, dataDir: string): string {
  return http?.users_file ?? join(dataDir, 'users.json');
}

/** The users file on disk. Every read parses and checks it whole; a broken file is an error naming it. */
export class UsersFile {
  constructor(readonly path: string) {}

  exists(): boolean {
    return this.readText() !== undefined;
  }

  /**
   * The file's text; undefined when there is none (ENOENT alone: a directory this user may not
   * look into hid a file with users in it, and `user list` said "no users", `check` "nobody can
   * log in"). A plain file only: a FIFO named by --users hung `user add` (an outside probe).
   */
  private readText(): string | undefined {
    try {
      return readRegularFile(this.path, MAX_USERS_FILE_BYTES, 'not a users file').toString('utf8');
    } catch (err) {
      const code = (err as FileUnreadable).code;
      if (code === 'ENOENT') return undefined;
      if (code === 'EACCES') throw this.dirHidden() ? permissionDenied(dirname(this.path)) : new PermissionDenied(`cannot read ${this.path}: permission denied; run the command as the service user or root`);
      throw new Error(`${this.path}: cannot read the users file (${(err as Error).message}); expected the JSON that edge-nvr user writes`);
    }
  }

  /**
   * Why the file cannot be trusted to say who may log in, if it cannot: whoever may write it, or
   * replace it in its folder, can make themselves manager, and whoever may read it can try the
   * hashes offline. A users file outside the data dir (`http.users_file`) at 0666 let a local user
   * add a manager of their own (an outside probe). Refused: writable by its group or others,
   * readable by others, owned by another user than this process's (or root), or in a folder that
   * others may write to without the sticky bit or that another user owns. Root, who reads every
   * user's file, is not held to the owner rule.
   */
  private looseness(): string | undefined {
    const uid = process.getuid?.() ?? 0;
    const mine = (owner: number) => uid === 0 || owner === uid || owner === 0;
    let file, dir;
    try {
      file = statSync(this.path);
      dir = statSync(dirname(this.path));
    } catch {
      return undefined; // gone since it was read: the next read says so
    }
    const mode = file.mode & 0o777;
    const octal = `0${mode.toString(8).padStart(3, '0')}`;
    const fix = `chmod 0600 ${this.path}, owned by the service user, in a folder only it (or root) may write to`;
    if (mode & 0o027) return `${this.path}: the users file may be ${mode & 0o022 ? 'changed' : 'read'} by other users (mode ${octal}): nobody can log in until it is fixed; ${fix}`;
    if (!mine(file.uid)) return `${this.path}: the users file belongs to user ${file.uid}, not to this service: nobody can log in until it is fixed; ${fix}`;
    if (!mine(dir.uid) || ((dir.mode & 0o022) && !(dir.mode & 0o1000))) {
      return `${this.path}: its folder ${dirname(this.path)} may be written by other users (owner ${dir.uid}, mode 0${(dir.mode & 0o7777).toString(8)}): they could replace the users file; nobody can log in until it is fixed; ${fix}`;
    }
    return undefined;
  }

  /** This user may not look into the file's directory (else what was denied is the file, or writing beside it). */
  private dirHidden(): boolean {
    try {
      statSync(this.path);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EACCES';
    }
  }

  read(): UserRecord[] {
    const text = this.readText();
    if (text === undefined) return [];
    const loose = this.looseness();
    if (loose) throw new Error(loose);
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new Error(`${this.path}: cannot read the users file (${(err as Error).message}); expected the JSON that edge-nvr user writes`);
    }
    const users = (data as { users?: unknown })?.users;
    if (!Array.isArray(users)) throw new Error(`${this.path}: expected {"version": 1, "users": [...]}, as edge-nvr user writes it`);
    return users.map((u, i) => {
      const r = u as Partial<UserRecord>;
      if (typeof r.name !== 'string' || !NAME_PATTERN.test(r.name) || !ROLES.includes(r.role as Role) || typeof r.hash !== 'string') {
        throw new Error(`${this.path}: users[${i}] is not a user (name, role viewer or manager, hash); fix or remove it with edge-nvr user`);
      }
      return { name: r.name, role: r.role as Role, hash: r.hash, created_ms: Number(r.created_ms ?? 0), changed_ms: Number(r.changed_ms ?? 0) };
    });
  }

  /**
   * Reads the users, changes them and writes them back, one process at a time (common/file-lock.ts):
   * two `user add` at once each kept only their own change. `change` may throw: nothing is written.
   */
  update(change: (users: UserRecord[]) => UserRecord[]): void {
    try {
      withFileLock(`${this.path}.lock`, LOCK_WAIT_MS, () => this.write(change(this.read())));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
      throw this.dirHidden() ? permissionDenied(dirname(this.path)) : new PermissionDenied(`cannot write in ${dirname(this.path)}: permission denied; run the command as the service user or root`);
    }
  }

  /**
   * Replaces the file atomically (temporary file, fsync, rename, folder fsync), mode 0600. Run as root, the file
   * takes the owner of its directory, so the daemon (user edge-nvr, owner of the data dir) reads it.
   */
  write(users: UserRecord[]): void {
    const owner = process.getuid?.() === 0 ? statSync(dirname(this.path)) : undefined;
    writeFileDurably(this.path, JSON.stringify({ version: 1, users }, null, 2) + '\n', { mode: 0o600, owner });
  }
}

/**
 * The daemon's view of the users file: read again whenever it changed on disk (a `user add` or
 * `user remove` takes effect at the next request, without a restart). A file that cannot be read
 * leaves no one able to log in, and says why.
 */
export class UserDirectory {
  private stamp = '';
  private users = new Map<string, UserRecord>();
  private error: string | undefined;

  constructor(private readonly file: UsersFile, private readonly onError: (message: string) => void = () => undefined) {}

  private refresh(): void {
    let stamp = 'absent';
    try {
      const s = statSync(this.file.path);
      // the mode too: a chmod that loosens the file (or fixes it) changes nothing else; and its
      // folder's, which the file is refused for as well (a folder opened to all after the file was
      // read went unnoticed, and logins went on, until the file itself changed)
      const d = statSync(dirname(this.file.path));
      stamp = `${s.mtimeMs}/${s.size}/${s.ino}/${s.mode}/${s.uid}/${d.mode}/${d.uid}`;
    } catch { /* no file: no users */ }
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    try {
      this.users = new Map(this.file.read().map((u) => [u.name, u]));
      this.error = undefined;
    } catch (err) {
      this.users = new Map();
      this.error = (err as Error).message;
      this.onError(this.error);
    }
  }

  get(name: string): UserRecord | undefined {
    this.refresh();
    return this.users.get(name);
  }

  count(): number {
    this.refresh();
    return this.users.size;
  }

  problem(): string | undefined {
    this.refresh();
    return this.error;
  }
}
