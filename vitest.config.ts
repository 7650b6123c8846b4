import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration files each start DynamoDB Local (Java) and s3rver: keep at most two at once on two cores.
    maxWorkers: 2,
    // One DynamoDB Local per worker for the whole run, which the test stacks share (each file a table of its own).
    globalSetup: ['test/support/shared-dynamo.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The handlers log JSON lines; show them only for failing tests.
    silent: 'passed-only',
    // Powertools' Logger and Metrics write through the global console in dev mode, which vitest captures (and
    // shows only for failing tests) like the rest; metrics stay on (dev mode would turn them off).
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', POWERTOOLS_DEV: 'true', POWERTOOLS_METRICS_DISABLED: 'false' },
  },
});
