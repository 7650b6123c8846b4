/**
 * The ingest worker as its own process (bundled like the Lambda), so its
 * peak RSS is its own. Argument: the S3 notification body. Prints one JSON line.
 */
import type { SQSEvent } from 'aws-lambda';
import { handler } from '../functions/handlers/ingest.js';
import { peakRssMB } from './peak-rss.js';

const body = process.argv[2]!;
const event: SQSEvent = {
  Records: [
    {
      messageId: 'bench',
      receiptHandle: 'bench',
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: 'bench',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:bench',
      awsRegion: 'us-east-1',
    },
  ],
};
const started = performance.now();
const cpu0 = process.cpuUsage();
const out = await handler(event);
const ms = performance.now() - started;
process.stdout.write(
  `${JSON.stringify({ ms, failures: out.batchItemFailures.length, maxRssMB: peakRssMB(), cpuMs: (process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1000 })}\n`,
);
