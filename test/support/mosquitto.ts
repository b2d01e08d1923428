import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export interface MosquittoOptions {
  /** user -> password: a password_file made with mosquitto_passwd, anonymous refused */
  users?: Record<string, string>;
  /** TLS with client certificates required (see makeCerts) */
  tls?: Certs;
  /** keep retained messages and sessions across restarts (a persistence file in dir) */
  persistence?: boolean;
  /** an acl_file's text */
  acl?: string;
}

export interface Certs {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl (EC P-256, one day). */
export function makeCerts(dir: string): Certs {
  mkdirSync(dir, { recursive: true });
  const p = (f: string) => join(dir, f);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '1', '-subj', '/CN=edge-nvr test CA');
  writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('req', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=127.0.0.1');
  ssl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.crt'), '-days', '1', '-extfile', p('server.ext'));
  ssl('req', ...ec, '-keyout', p('client.key'), '-out', p('client.csr'), '-subj', '/CN=edge-nvr-box');
  ssl('x509', '-req', '-in', p('client.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('client.crt'), '-days', '1');
  return { dir, ca: p('ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key'), clientCert: p('client.crt'), clientKey: p('client.key') };
}

/** Debian's mosquitto on a loopback port, owned by a test; stop and start it again on the same port. */
export class Mosquitto {
  private proc?: ChildProcess;
  port = 0;
  log = '';

  constructor(readonly dir: string, readonly opts: MosquittoOptions = {}) {
    mkdirSync(dir, { recursive: true });
  }

  get url(): string {
    return `${this.opts.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    const conf = join(this.dir, 'mosquitto.conf');
    const lines = [
      'user root', // the test runs as root: do not drop to the mosquitto user (it could not read the test dir)
      `listener ${this.port} 127.0.0.1`,
      'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice',
      'max_keepalive 65535',
    ];
    if (this.opts.users) {
      const pw = join(this.dir, 'passwd');
      writeFileSync(pw, '');
      for (const [u, p] of Object.entries(this.opts.users)) execFileSync('mosquitto_passwd', ['-b', pw, u, p], { stdio: 'pipe' });
      lines.push('allow_anonymous false', `password_file ${pw}`);
    } else {
      lines.push('allow_anonymous true');
    }
    if (this.opts.acl !== undefined) {
      writeFileSync(join(this.dir, 'acl'), this.opts.acl);
      lines.push(`acl_file ${join(this.dir, 'acl')}`);
    }
    if (this.opts.tls) {
      const c = this.opts.tls;
      lines.push(`cafile ${c.ca}`, `certfile ${c.serverCert}`, `keyfile ${c.serverKey}`, 'require_certificate true');
    }
    if (this.opts.persistence) lines.push('persistence true', `persistence_location ${this.dir}/`, 'autosave_interval 1');
    else lines.push('persistence false');
    writeFileSync(conf, lines.join('\n') + '\n');
    const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout!.on('data', (d) => { this.log += String(d); });
    proc.stderr!.on('data', (d) => { this.log += String(d); });
    // ready once the port accepts connections
    const until = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`mosquitto exited ${proc.exitCode}: ${this.log}`);
      if (await canConnect(this.port)) break;
      if (Date.now() > until) throw new Error(`mosquitto did not listen on ${this.port}: ${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this;
  }

  /** Replaces the ACL (started with `acl`) and has the running broker read it again (SIGHUP). */
  async reloadAcl(text: string): Promise<void> {
    writeFileSync(join(this.dir, 'acl'), text);
    this.proc!.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    import('node:net').then(({ connect }) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    }, () => resolve(false));
  });
}
