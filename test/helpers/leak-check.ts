import { afterAll, afterEach, expect } from 'vitest';
import { stopAll } from './resources.js';

/**
 * Stops whatever a test started (processes, servers, workers) so the next test starts
 * clean, and fails the test when something cannot be stopped in time: a shutdown that
 * hangs is a bug. File-scoped resources (started in beforeAll, shared by the file's
 * tests) are stopped after the file.
 */
afterEach(async () => {
  const stuck = await stopAll('test');
  expect(stuck, 'resources that did not stop within 20 s').toEqual([]);
});

afterAll(async () => {
  const stuck = await stopAll('file');
  expect(stuck, 'resources that did not stop within 20 s').toEqual([]);
});
