import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

const require = createRequire(import.meta.url);

export interface EmbeddedBroker {
  url: string;
  close(): Promise<void>;
}

/**
 * An in-process broker (aedes, MQTT 3.1.1 only) for `edge-nvr demo` when no broker is
 * configured: 127.0.0.1:1883, or a free port when 1883 is taken.
 */
export const EMBEDDED_BROKER_PORT = 1883;

export async function startEmbeddedBroker(log: Logger, port = EMBEDDED_BROKER_PORT): Promise<EmbeddedBroker> {
  const Aedes = require('aedes') as () => { handle: (socket: unknown) => void; close(cb: () => void): void };
  const broker = Aedes();
  // the clients' sockets, ended by close(): a subscriber left open (the mosquitto_sub the demo
  // suggests) kept the process alive after "edge-nvr stopped" until it went away
  const clients = new Set<Socket>();
  const listen = (p: number) => new Promise<Server>((resolve, reject) => {
    const server = createServer((socket) => {
      clients.add(socket);
      socket.once('close', () => clients.delete(socket));
      broker.handle(socket);
    });
    server.once('error', reject);
    server.listen(p, '127.0.0.1', () => resolve(server));
  });
  let server: Server;
  try {
    server = await listen(port);
  } catch {
    server = await listen(0);
  }
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  log.info({ url }, `demo: embedded MQTT broker (MQTT 3.1.1) on ${url}; try: mosquitto_sub -h 127.0.0.1 -p ${(server.address() as AddressInfo).port} -t 'edge-nvr/#' -v`);
  return {
    url,
    close: () => new Promise<void>((resolve) => {
      server.close(() => broker.close(() => resolve()));
      for (const socket of clients) socket.destroy();
    }),
  };
}
