// Applied by `npm install`/`npm ci` (the root `postinstall`, also in the image's install stages): small
// fixes to installed dependencies, each checked against the exact text it replaces, so a dependency
// release that changes that text stops the install instead of being patched blindly. Plain Node with no
// dependencies: it runs in the production install, where there is no tsx.
//
// postgres 3.4.9 (the latest release; porsager/postgres#1208, #1154, #1199, proposed fixes #1168, #1209):
// a write buffered for a `setImmediate` runs after the server closed the connection and calls `write` on
// the `null` socket, an uncaught TypeError that kills the process (a transaction whose query was in
// flight sends its ROLLBACK that way; so does a query on a reservation whose connection closed). The
// guard fails the connection's queries with CONNECTION_CLOSED instead, as a close does. The teardown
// paths also drop the buffered bytes and the timer, so a reconnected connection neither sends the dead
// one's bytes nor waits on a timer that was cleared but never reset.
// test/e2e/closed-connections.test.ts runs those cases in a fresh process against a server.
//
// postgres 3.4.9, `COPY … TO STDOUT`: the server sends one CopyData message per row, and postgres.js
// hands each to the stream on its own (two Buffer views and a `push` per row, a million of each for a
// million rows: in an export worker more CPU than the reads it waits for, half of it garbage collection).
// The patch moves the rows of a run of whole CopyData messages in a socket chunk together, over their
// message headers (in place, `copyWithin`: nothing allocated per row), and pushes them as one Buffer:
// the same bytes in the same order, with backpressure as before. test/e2e/copy-batches.test.ts checks it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const PATCHES = [
  {
    name: 'postgres',
    version: '3.4.9',
    files: ['src/connection.js', 'cjs/src/connection.js'],
    edits: [
      {
        from: '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)\n',
        to:
          '  function nextWrite(fn) {\n' +
          '    if (socket === null) { // offload patch: the server closed the connection\n' +
          '      nextWriteTimer !== null && clearImmediate(nextWriteTimer)\n' +
          '      chunk = nextWriteTimer = null\n' +
          "      error(Errors.connection('CONNECTION_CLOSED', options))\n" +
          '      return false\n' +
          '    }\n' +
          '    const x = socket.write(chunk, fn)\n',
      },
      {
        from: '    clearImmediate(nextWriteTimer)\n    if (socket) {\n',
        to: '    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null // offload patch\n    if (socket) {\n',
      },
      {
        from: '    while (incoming.length > 4) {\n      length = incoming.readUInt32BE(1)\n',
        to:
          '    while (incoming.length > 4) {\n' +
          '      if (incoming[0] === 100 && stream) { // offload patch: a run of CopyData rows, one push\n' +
          '        let at = 0\n' +
          '        let rows = 0\n' +
          '        while (at + 5 <= incoming.length && incoming[at] === 100) {\n' +
          '          const size = incoming.readUInt32BE(at + 1)\n' +
          '          if (at + size + 1 > incoming.length) break\n' +
          '          incoming.copyWithin(rows, at + 5, at + size + 1)\n' +
          '          rows += size - 4\n' +
          '          at += size + 1\n' +
          '        }\n' +
          '        if (at > 0) {\n' +
          '          const copied = incoming.subarray(0, rows)\n' +
          '          incoming = incoming.subarray(at)\n' +
          '          remaining = 0\n' +
          '          incomings = null\n' +
          '          stream.push(copied) || socket.pause()\n' +
          '          continue\n' +
          '        }\n' +
          '      }\n' +
          '      length = incoming.readUInt32BE(1)\n',
      },
      {
        from: '    incomings = null\n    clearImmediate(nextWriteTimer)\n',
        to: '    incomings = null\n    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null // offload patch\n',
      },
    ],
  },
];

let failed = false;
for (const patch of PATCHES) {
  const dir = path.join(root, 'node_modules', patch.name);
  if (!fs.existsSync(dir)) continue;
  const { version } = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  if (version !== patch.version) {
    console.error(
      `patches/apply.mjs: ${patch.name} is ${version}, the patch is for ${patch.version}: check whether the release fixes it, then update or remove the patch`,
    );
    failed = true;
    continue;
  }
  for (const file of patch.files) {
    const full = path.join(dir, file);
    let text = fs.readFileSync(full, 'utf8');
    for (const edit of patch.edits) {
      if (text.includes(edit.to)) continue;
      if (!text.includes(edit.from)) {
        console.error(`patches/apply.mjs: ${patch.name}/${file} does not hold the text a patch replaces`);
        failed = true;
        continue;
      }
      text = text.replace(edit.from, edit.to);
    }
    fs.writeFileSync(full, text);
  }
}
if (failed) process.exit(1);
