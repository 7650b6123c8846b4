import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import S3rver from 's3rver';

/** Lets browsers PUT to presigned URLs on the local endpoint, as the AWS bucket's CORS rule does. */
const CORS = `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>`;

export interface RawS3Event {
  Records: Array<{
    eventName: string;
    eventTime: string;
    s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string; sequencer?: string } };
  }>;
}

export interface LocalS3 {
  endpoint: string;
  /** s3rver's own notifications (keys NOT URL-encoded, unlike real S3). */
  onEvent(listener: (event: RawS3Event) => void): void;
  stop(): Promise<void>;
}

/** s3rver with the bucket created, listening on 127.0.0.1. Its data lives in `dir`. */
export async function startLocalS3(options: { port: number; dir: string; bucket: string }): Promise<LocalS3> {
  mkdirSync(options.dir, { recursive: true });
  const server = new S3rver({
    port: options.port,
    address: '127.0.0.1',
    directory: options.dir,
    silent: true,
    configureBuckets: [{ name: options.bucket, configs: [CORS] }],
  });
  const address = (await server.run()) as { port: number };
  const http = (server as unknown as { httpServer: Server }).httpServer;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    onEvent: (listener) => server.on('event', listener),
    stop: async () => {
      http.closeAllConnections?.();
      await server.close();
    },
  };
}
