/**
 * Publishing needs `<storage>/objects` to be a directory: with a file there, every attempt of a job on
 * local storage fails after its parts are written and checkpointed, so the job ends `failed` with its
 * parts kept (a dead letter a redrive resumes). The directory is put back however `fn` ends.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

export async function withFailingPublish<T>(storageDir: string, fn: () => Promise<T>): Promise<T> {
  const objects = path.join(storageDir, 'objects');
  const moved = `${objects}.away`;
  await fs.rename(objects, moved).catch(() => undefined);
  await fs.writeFile(objects, 'not a directory');
  try {
    return await fn();
  } finally {
    await fs.rm(objects, { force: true });
    await fs.rename(moved, objects).catch(() => fs.mkdir(objects, { recursive: true }));
  }
}
