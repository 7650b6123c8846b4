#!/usr/bin/env node
// The `trace-ingest` bin: runs the TypeScript entry through tsx.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('./trace-ingest.ts');
await run();
