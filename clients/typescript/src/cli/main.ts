#!/usr/bin/env node
/** The `offload` executable (the package's `bin`): runs the command line and exits with its code. */
import { run } from './program.js';

// A reader that stops early (`offload jobs | head`) is not an error: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

// Ctrl-C while a bar is drawn: give the terminal its cursor back (the bar hides it), then stop.
process.once('SIGINT', () => {
  if (process.stderr.isTTY) process.stderr.write('\u001b[?25h\n');
  process.exit(130);
});

const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
// Let stdout drain (a file piped to it) before the exit code is set.
process.exitCode = code;
