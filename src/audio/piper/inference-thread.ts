/**
 * One Piper inference thread (started by ./inference.ts): ONNX sessions, one per model and reused for
 * every sentence, each with the intra-op threads the pool gives (`workerData.intraOpThreads`). A message asks for one
 * sentence's phoneme ids with its scales; the answer is the sentence's samples as 16-bit PCM, scaled the
 * way piper-tts does (peak-normalised, then × 32767, clipped, truncated).
 */
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';

export interface InferenceTask {
  id: number;
  modelPath: string;
  ids: number[];
  noiseScale: number;
  lengthScale: number;
  noiseW: number;
}

export type InferenceReply =
  { id: number; ok: true; pcm: Uint8Array } | { id: number; ok: false; message: string };

export interface InferenceThreadData {
  intraOpThreads: number;
}

const intraOpNumThreads = Math.max(
  1,
  Number((workerData as InferenceThreadData | null)?.intraOpThreads) || 1,
);

const sessions = new Map<string, Promise<ort.InferenceSession>>();

function session(modelPath: string): Promise<ort.InferenceSession> {
  let s = sessions.get(modelPath);
  if (!s) {
    s = ort.InferenceSession.create(modelPath, {
      intraOpNumThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    s.catch(() => sessions.delete(modelPath));
    sessions.set(modelPath, s);
  }
  return s;
}

/** Float samples to s16le as piper-tts writes them. */
export function toPcm16(audio: Float32Array): Uint8Array {
  let peak = 0;
  for (const v of audio) peak = Math.max(peak, Math.abs(v));
  const out = new Int16Array(audio.length);
  if (peak >= 1e-8) {
    for (let i = 0; i < audio.length; i++) {
      const v = Math.max(-1, Math.min(1, audio[i]! / peak)) * 32767;
      out[i] = Math.trunc(Math.max(-32767, Math.min(32767, v)));
    }
  }
  return new Uint8Array(out.buffer);
}

async function infer(task: InferenceTask): Promise<Uint8Array> {
  const s = await session(task.modelPath);
  const n = task.ids.length;
  const feeds = {
    input: new ort.Tensor(
      'int64',
      BigInt64Array.from(task.ids, (v) => BigInt(v)),
      [1, n],
    ),
    input_lengths: new ort.Tensor('int64', BigInt64Array.from([BigInt(n)]), [1]),
    scales: new ort.Tensor(
      'float32',
      Float32Array.from([task.noiseScale, task.lengthScale, task.noiseW]),
      [3],
    ),
  };
  const out = await s.run(feeds);
  const tensor = out[s.outputNames[0]!];
  if (!tensor || !(tensor.data instanceof Float32Array)) throw new Error('the model gave no float output');
  return toPcm16(tensor.data);
}

parentPort?.on('message', (task: InferenceTask) => {
  infer(task).then(
    (pcm) =>
      parentPort!.postMessage({ id: task.id, ok: true, pcm } satisfies InferenceReply, [
        pcm.buffer as ArrayBuffer,
      ]),
    (err: unknown) =>
      parentPort!.postMessage({
        id: task.id,
        ok: false,
        message: (err as Error).message,
      } satisfies InferenceReply),
  );
});
