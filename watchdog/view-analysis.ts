/**
 * The pixel work of watching a view, as jobs: what the tamper monitor and the capture mask watch
 * ask of a sampled picture. Pure: no catalog, no events, no timers. The daemon runs it in a worker
 * thread (`view-analysis-worker.ts`, through `ViewAnalyzer`) so the event loop that indexes
 * segments never spends its time on pixels; a monitor without an analyzer runs it in line.
 *
 * A job carries everything its answer depends on except the camera's previous picture, which
 * stays here (sent back and forth it would cost more than the analysis), as bytes: 0.23 MB a
 * camera at 640x360, where Float32 was 0.9 MB.
 */
import type { MaskShape } from '../common/mask-geometry.js';
import { MaskRegions, type MaskDetail } from './capture-mask-check.js';
import { change, compare, describeFrame, prepareReference, type PreparedReference, type ViewComparison, type ViewReference } from './tamper-analysis.js';
import { Scratch, type Gray, type GrayBytes } from './tamper-image.js';

interface Picture {
  camera: string;
  width: number;
  height: number;
  /** bytes a pixel: 1 grey (the sampler's pictures), 3 RGB24 (absent: 3) */
  channels?: 1 | 3;
  /** packed rows */
  data: Uint8Array;
}

/** The tamper monitor's question: the picture described, against the reference (when there is one) and the camera's previous picture. */
export interface ViewJob extends Picture {
  kind: 'view';
  /** `data` may be left out (null) once the analysis was given this reference for the camera */
  reference: { id: number; data: ViewReference | null } | null;
  /** the camera's capture masks: areas painted flat in every picture, left out of the comparison */
  painted?: MaskShape[];
}

/** The capture mask watch's question: how much detail under each mask and outside them. */
export interface MasksJob extends Picture {
  kind: 'masks';
  masks: MaskShape[];
}

export type AnalysisJob = ViewJob | MasksJob;

export interface ViewAnswer {
  kind: 'view';
  /**
   * what learning a reference keeps of the picture; in line, in the analysis' scratch memory, valid
   * until its next picture (the thread's answer is a copy: posted in a message)
   */
  coarse: Gray;
  sharpness: number;
  /** the reference it was compared with (null: none given) */
  referenceId: number | null;
  comparison: ViewComparison | null;
  /** the largest 8 px tile change from the camera's previous picture (Infinity for the first, or a new size) */
  change: number;
}

export interface MasksAnswer {
  kind: 'masks';
  detail: MaskDetail;
}

export type AnalysisAnswer = ViewAnswer | MasksAnswer;

/** The answer type of a job type. */
export type AnswerOf<J extends AnalysisJob> = J extends ViewJob ? ViewAnswer : MasksAnswer;

/** Per camera: its previous picture, its reference prepared once, its mask regions computed once. */
export class ViewAnalysis {
  /** each camera's previous full-size grey picture, whole grey levels in a buffer of its own that is written over */
  private readonly prev = new Map<string, GrayBytes>();
  /** the picture being described: one buffer for every camera (one job at a time) */
  private scratch = new Float32Array(0);
  /** the pictures made and dropped while describing and comparing one: reused (see Scratch) */
  private readonly temp = new Scratch();
  private readonly refs = new Map<string, { id: number; prepared: PreparedReference }>();
  private readonly masks = new Map<string, { key: string; regions: MaskRegions }>();

  run<J extends AnalysisJob>(job: J): AnswerOf<J>;
  run(job: AnalysisJob): AnalysisAnswer {
    if (job.kind === 'masks') return { kind: 'masks', detail: this.regions(job).detail(job.data, job.width, job.height, job.channels) };
    // Big arrays made and dropped per picture (0.9 MB for a 640x360 one) kept the process's
    // memory growing at 64 cameras (the allocator keeps freed blocks of that size): the grey
    // picture goes into one scratch buffer, and is copied (rounded to bytes) into the camera's own to be kept.
    const n = job.width * job.height;
    if (this.scratch.length < n) this.scratch = new Float32Array(n);
    const sample = describeFrame(job, 0, this.scratch, this.temp);
    const prev = this.prev.get(job.camera);
    const moved = prev ? change(prev, sample.fine) : Infinity;
    if (prev && prev.data.length === n) {
      prev.data.set(sample.fine.data);
      prev.width = sample.fine.width;
      prev.height = sample.fine.height;
    } else {
      this.prev.set(job.camera, { width: sample.fine.width, height: sample.fine.height, data: Uint8ClampedArray.from(sample.fine.data) });
    }
    let comparison: ViewComparison | null = null;
    if (job.reference) {
      let ref = this.refs.get(job.camera);
      if (ref?.id !== job.reference.id) {
        if (!job.reference.data) throw new Error(`view reference ${job.reference.id} of ${job.camera} is not known here`);
        ref = { id: job.reference.id, prepared: prepareReference(job.reference.data, job.painted) };
        this.refs.set(job.camera, ref);
      }
      comparison = compare(ref.prepared, sample, this.temp);
    }
    return {
      kind: 'view', coarse: sample.coarse, sharpness: sample.sharpness, referenceId: job.reference?.id ?? null, comparison,
      change: moved,
    };
  }

  /**
   * What is kept for a camera between its pictures, in bytes: its previous picture (one byte a
   * pixel) and its prepared reference. It does not grow with the number of pictures.
   */
  heldBytes(camera: string): number {
    const ref = this.refs.get(camera)?.prepared;
    const refBytes = ref ? ref.coarse.data.byteLength + ref.grad.data.byteLength + ref.thumb.data.byteLength + ref.energy.byteLength + ref.brightness.byteLength : 0;
    return (this.prev.get(camera)?.data.byteLength ?? 0) + refBytes;
  }

  /** A camera no longer watched: its pictures go. */
  forget(camera: string): void {
    this.prev.delete(camera);
    this.refs.delete(camera);
    this.masks.delete(camera);
  }

  private regions(job: MasksJob): MaskRegions {
    const key = JSON.stringify(job.masks);
    let m = this.masks.get(job.camera);
    if (m?.key !== key) {
      m = { key, regions: new MaskRegions(job.masks) };
      this.masks.set(job.camera, m);
    }
    return m.regions;
  }
}
