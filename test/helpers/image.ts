/**
 * The runtime image of ./Dockerfile without Docker: reads the Dockerfile's stages and stages into a
 * folder exactly what the runtime stage copies, by the same means. Files from the build context are
 * copied from the repository; `--from=prod-deps` runs that stage's own COPY and RUN instructions in a
 * folder of its own (a production install from the lockfile); `--from=build /app/dist` is the output of
 * `npm run build`, the command the build stage runs. Anything else the runtime stage copies fails the
 * staging, so the Dockerfile cannot gain a file this test does not ship.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './compose.js';

export interface Instruction {
  keyword: string;
  /** The arguments as written, continuation lines joined. */
  args: string;
}

export interface Stage {
  name: string;
  instructions: Instruction[];
}

/** The stages of a Dockerfile, in order; the last is the runtime image. */
export function parseDockerfile(text: string): Stage[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  const stages: Stage[] = [];
  for (const line of lines) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(trimmed)!;
    const instruction = { keyword: keyword!.toUpperCase(), args: args!.replace(/\s+/g, ' ').trim() };
    if (instruction.keyword === 'FROM') {
      const name = / AS (\S+)$/i.exec(instruction.args)?.[1] ?? String(stages.length);
      stages.push({ name, instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

/** `KEY=value ...` of the stage's ENV instructions. */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    for (const [, key, value] of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S*)/g)) env[key!] = value!;
  }
  return env;
}

/** The exec-form command after `CMD` (in a CMD or HEALTHCHECK instruction). */
export function execForm(instruction: Instruction): string[] {
  const json = /(?:^|\s)CMD\s+(\[.*\])$/.exec(instruction.args)?.[1] ?? instruction.args;
  return JSON.parse(json) as string[];
}

interface Copy {
  from?: string;
  sources: string[];
  dest: string;
}

function parseCopy(args: string): Copy {
  const words = args.split(' ');
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const rest = words.filter((w) => !w.startsWith('--'));
  return { from, sources: rest.slice(0, -1), dest: rest.at(-1)! };
}

/** Where COPY puts `source` under `dest` (relative to WORKDIR /app), inside `root`. */
function target(root: string, source: string, dest: string): string {
  const relative = dest.replace(/^\/app\/?/, '').replace(/^\.\//, '');
  return dest.endsWith('/') ? path.join(root, relative, path.basename(source)) : path.join(root, relative);
}

/** Runs a stage's COPY (from the context) and RUN instructions in `dir`; the cache mounts are dropped. */
async function runStage(stage: Stage, dir: string): Promise<void> {
  const env = { ...process.env, ...stageEnv(stage) };
  for (const { keyword, args } of stage.instructions) {
    if (keyword === 'COPY') {
      const copy = parseCopy(args);
      if (copy.from) throw new Error(`stage ${stage.name}: COPY --from is not staged here: ${args}`);
      for (const source of copy.sources) {
        await fs.cp(path.join(ROOT, source), target(dir, source, copy.dest), { recursive: true });
      }
    } else if (keyword === 'RUN') {
      execFileSync('sh', ['-ec', args.replace(/--mount=\S+\s*/g, '')], { cwd: dir, env, stdio: 'pipe' });
    } else if (!['WORKDIR', 'ENV', 'ARG'].includes(keyword)) {
      throw new Error(`stage ${stage.name}: ${keyword} is not staged here`);
    }
  }
}

export interface StagedImage {
  /** The folder that stands for /app of the runtime image. */
  dir: string;
  /** The runtime stage's ENV. */
  env: Record<string, string>;
  runtime: Stage;
  remove(): Promise<void>;
}

/** Stages ./Dockerfile's runtime image into a temporary folder outside the repository. */
export async function stageRuntimeImage(): Promise<StagedImage> {
  const stages = parseDockerfile(await fs.readFile(path.join(ROOT, 'Dockerfile'), 'utf8'));
  const runtime = stages.at(-1)!;
  const byName = new Map(stages.map((stage) => [stage.name, stage]));
  // Outside the repository, so that node cannot resolve a package from the repository's node_modules.
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-image-'));
  const dir = path.join(scratch, 'app');
  await fs.mkdir(dir);
  const built = new Map<string, string>();
  try {
    for (const { keyword, args } of runtime.instructions.filter((i) => i.keyword === 'COPY')) {
      const copy = parseCopy(args);
      for (const source of copy.sources) {
        let from: string;
        if (!copy.from) {
          from = path.join(ROOT, source);
        } else if (copy.from === 'build' && source === '/app/dist') {
          const build = byName.get('build');
          if (!build?.instructions.some((i) => i.keyword === 'RUN' && i.args === 'npm run build'))
            throw new Error('the build stage no longer runs `npm run build`: update test/helpers/image.ts');
          from = path.join(scratch, 'dist');
          execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts', '--out-dir', from], {
            cwd: ROOT,
            stdio: 'pipe',
          });
        } else if (byName.has(copy.from) && copy.from !== 'build') {
          let stageDir = built.get(copy.from);
          if (!stageDir) {
            stageDir = path.join(scratch, `stage-${copy.from}`);
            await fs.mkdir(stageDir);
            await runStage(byName.get(copy.from)!, stageDir);
            built.set(copy.from, stageDir);
          }
          from = path.join(stageDir, source.replace(/^\/app\/?/, ''));
        } else {
          throw new Error(`${keyword} ${args}: not staged by test/helpers/image.ts`);
        }
        await fs.cp(from, target(dir, source, copy.dest), { recursive: true, verbatimSymlinks: true });
      }
    }
  } catch (err) {
    await fs.rm(scratch, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    env: stageEnv(runtime),
    runtime,
    remove: () => fs.rm(scratch, { recursive: true, force: true }),
  };
}
