// Prints "N passed, N failed" from vitest's JSON report, and fails when no test ran.
import { existsSync, readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.taskq/test-results.json';
if (!existsSync(file)) {
  console.log('0 passed, 0 failed');
  console.error(`no test report at ${file}: the test run did not complete`);
  process.exit(1);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const passed = report.numPassedTests ?? 0;
const suitesFailed = report.numFailedTestSuites ?? 0;
// A file that fails in a hook fails no single test; count it so the line never hides it.
const failed = (report.numFailedTests ?? 0) || suitesFailed;
console.log(`${passed} passed, ${failed} failed`);
if (passed + failed === 0) {
  console.error('no test ran');
  process.exit(1);
}
if (failed > 0 || suitesFailed > 0) process.exit(1);
