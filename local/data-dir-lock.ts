import { closeSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** What `<DATA_DIR>/local-stack.lock` says about the stack that holds the data directory. */
export interface LockHolder {
  pid: number;
  apiPort: number;
  s3Port: number;
  dynamoPort: number;
  startedAt: string;
}

/** Another local stack, still running, holds this data directory. */
export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `a local stack is already running on ${dataDir} (pid ${holder.pid}; API port ${holder.apiPort}, S3 port ${holder.s3Port}, ` +
        `DynamoDB port ${holder.dynamoPort}, since ${holder.startedAt}). Stop it first (Ctrl-C in its terminal, or kill ${holder.pid}), ` +
        'or start this one with another DATA_DIR.',
    );
  }
}

export interface DataDirLock {
  /** Records the ports actually listened on (a port 0 was given one by the system). */
  update(ports: Pick<LockHolder, 'apiPort' | 's3Port' | 'dynamoPort'>): void;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
    return Number.isInteger(h.pid) && h.pid > 0 ? h : null;
  } catch {
    return null;
  }
}

/**
 * Claims a data directory for one running stack: DynamoDB Local's database and
 * s3rver's objects may only ever be served by one. The lock file is created
 * exclusively; one left by a stack that is gone (killed outright) is taken over.
 * Throws DataDirInUseError, touching nothing, when a live stack holds it.
 */
export function claimDataDir(dataDir: string, ports: Pick<LockHolder, 'apiPort' | 's3Port' | 'dynamoPort'>): DataDirLock {
  const file = join(dataDir, 'local-stack.lock');
  const holder: LockHolder = { pid: process.pid, ...ports, startedAt: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, JSON.stringify(holder));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
      let other = readHolder(file);
      if (other === null) {
        // Unreadable: maybe another stack is writing it this instant; look once more.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
        other = readHolder(file);
      }
      if (other && alive(other.pid)) throw new DataDirInUseError(dataDir, other);
      rmSync(file, { force: true }); // its stack is gone (killed outright): take the directory over
    }
  }
  let held = true;
  return {
    update: (p) => {
      if (held) writeFileSync(file, JSON.stringify({ ...holder, ...p }));
    },
    release: () => {
      if (!held) return;
      held = false;
      if (readHolder(file)?.pid === process.pid) rmSync(file, { force: true });
    },
  };
}
