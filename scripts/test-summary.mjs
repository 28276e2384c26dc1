// Prints one "N passed, N failed" line counting every vitest JSON report given (one per Node
// version in CI), and fails when a report is missing or no test ran.
import { existsSync, readFileSync } from 'node:fs';

const files = process.argv.length > 2 ? process.argv.slice(2) : ['.taskq/test-results.json'];
let passed = 0;
let failed = 0;
let missing = 0;
for (const file of files) {
  if (!existsSync(file)) {
    console.error(`no test report at ${file}: that test run did not complete`);
    missing++;
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  // A file that fails in a hook fails no single test; count it so the line never hides it.
  let fileFailures = (report.numFailedTests ?? 0) || (report.numFailedTestSuites ?? 0);
  // A run that exited non-zero with every test passed (vitest's unhandled errors): one failure.
  const exit = existsSync(`${file}.exit`) ? readFileSync(`${file}.exit`, 'utf8').trim() : '0';
  if (exit !== '0' && fileFailures === 0) {
    console.error(
      `${file}: the run exited with ${exit} though no test failed (an error outside the tests)`,
    );
    fileFailures = 1;
  }
  console.error(`${file}: ${report.numPassedTests ?? 0} passed, ${fileFailures} failed`);
  passed += report.numPassedTests ?? 0;
  failed += fileFailures;
}
console.log(`${passed} passed, ${failed + missing} failed`);
if (passed + failed === 0) {
  console.error('no test ran');
  process.exit(1);
}
if (failed > 0 || missing > 0) process.exit(1);
