import { paint, type Frame } from './frame.js';

/**
 * A 5x7 bitmap font drawn straight into the frame: no font files or drawtext filter needed, so
 * the watermark is the same on every box. Lower case is drawn as upper case; an unknown
 * character as a filled block (never silently dropped).
 */
const GLYPHS: Record<string, number[]> = {
  '0': [14, 17, 19, 21, 25, 17, 14], '1': [4, 12, 4, 4, 4, 4, 14], '2': [14, 17, 1, 2, 4, 8, 31], '3': [31, 2, 4, 2, 1, 17, 14],
  '4': [2, 6, 10, 18, 31, 2, 2], '5': [31, 16, 30, 1, 1, 17, 14], '6': [6, 8, 16, 30, 17, 17, 14], '7': [31, 1, 2, 4, 8, 8, 8],
  '8': [14, 17, 17, 14, 17, 17, 14], '9': [14, 17, 17, 15, 1, 2, 12],
  A: [14, 17, 17, 31, 17, 17, 17], B: [30, 17, 17, 30, 17, 17, 30], C: [14, 17, 16, 16, 16, 17, 14], D: [28, 18, 17, 17, 17, 18, 28],
  E: [31, 16, 16, 30, 16, 16, 31], F: [31, 16, 16, 30, 16, 16, 16], G: [14, 17, 16, 23, 17, 17, 15], H: [17, 17, 17, 31, 17, 17, 17],
  I: [14, 4, 4, 4, 4, 4, 14], J: [7, 2, 2, 2, 2, 18, 12], K: [17, 18, 20, 24, 20, 18, 17], L: [16, 16, 16, 16, 16, 16, 31],
  M: [17, 27, 21, 21, 17, 17, 17], N: [17, 17, 25, 21, 19, 17, 17], O: [14, 17, 17, 17, 17, 17, 14], P: [30, 17, 17, 30, 16, 16, 16],
  Q: [14, 17, 17, 17, 21, 18, 13], R: [30, 17, 17, 30, 20, 18, 17], S: [15, 16, 16, 14, 1, 1, 30], T: [31, 4, 4, 4, 4, 4, 4],
  U: [17, 17, 17, 17, 17, 17, 14], V: [17, 17, 17, 17, 17, 10, 4], W: [17, 17, 17, 21, 21, 21, 10], X: [17, 17, 10, 4, 10, 17, 17],
  Y: [17, 17, 17, 10, 4, 4, 4], Z: [31, 1, 2, 4, 8, 16, 31],
  ' ': [0, 0, 0, 0, 0, 0, 0], '-': [0, 0, 0, 31, 0, 0, 0], ':': [0, 12, 12, 0, 12, 12, 0], '.': [0, 0, 0, 0, 0, 12, 12],
  '_': [0, 0, 0, 0, 0, 0, 31], '/': [0, 1, 2, 4, 8, 16, 0], '=': [0, 0, 31, 0, 31, 0, 0], '+': [0, 4, 4, 31, 4, 4, 0],
};

/** Burns `text` into the bottom-left corner on a black band, scaled with the frame height. */
export function watermark(frame: Frame, text: string): void {
  const scale = Math.max(1, Math.floor(frame.height / 360));
  const cw = 6 * scale, ch = 9 * scale;
  const maxChars = Math.floor((frame.width - 2 * scale) / cw);
  const s = text.toUpperCase().slice(0, Math.max(0, maxChars));
  const y0 = Math.max(0, frame.height - ch);
  const { width, height } = frame;
  paint(frame, { x0: 0, y0, x1: Math.min(width, s.length * cw + 2 * scale), y1: height }, false);
  for (let k = 0; k < s.length; k++) {
    const rows = GLYPHS[s[k]!] ?? [31, 31, 31, 31, 31, 31, 31];
    for (let r = 0; r < 7; r++) for (let c = 0; c < 5; c++) {
      if (!((rows[r]! >> (4 - c)) & 1)) continue;
      const x = scale + k * cw + c * scale, y = y0 + scale + r * scale;
      paint(frame, { x0: x, y0: y, x1: Math.min(width, x + scale), y1: Math.min(height, y + scale) }, true);
    }
  }
}
