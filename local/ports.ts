import { createServer } from 'node:net';

/** Whether nothing listens on this port of 127.0.0.1 right now. */
export function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A TCP port that is free right now on 127.0.0.1, drawn at random below
 * Linux's ephemeral range (32768+): the kernel hands ports of that range to
 * every outgoing connection and to every `listen(0)` of every process, so a
 * port taken from there and freed again is soon handed to someone else.
 * Several processes starting stacks at once (test workers) then rarely
 * meet; `isAddressInUse` lets a caller try again with new ports when they do.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await isFree(port)) return port;
  }
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The local stack's servers, by the port each needs. */
export type LocalService = 'api' | 's3' | 'dynamodb';

const SERVICE_NAMES: Record<LocalService, string> = { api: 'the API', s3: 'S3 (s3rver)', dynamodb: 'DynamoDB Local' };

/** A port the local stack needs is taken by another process. */
export class PortTakenError extends Error {
  override name = 'PortTakenError';
  constructor(
    readonly service: LocalService,
    readonly port: number,
  ) {
    super(`port ${port}, for ${SERVICE_NAMES[service]}, is taken by another process (address already in use)`);
  }
}

/** Throws PortTakenError for the first port (0: any port, not checked) that something listens on. */
export async function assertPortsFree(ports: Record<LocalService, number>): Promise<void> {
  for (const service of Object.keys(ports) as LocalService[]) {
    const port = ports[service];
    if (port !== 0 && !(await isFree(port))) throw new PortTakenError(service, port);
  }
}

/** Whether starting a server failed because its port was taken meanwhile. */
export function isAddressInUse(err: unknown): boolean {
  if (err instanceof PortTakenError) return true;
  return /EADDRINUSE|address already in use/i.test(
    err instanceof Error ? `${err.message} ${(err as NodeJS.ErrnoException).code ?? ''}` : String(err),
  );
}
