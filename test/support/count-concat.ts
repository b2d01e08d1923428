/**
 * Counts the bytes every Buffer.concat in this process returns, until the test ends: the RTSP
 * parser's quadratic cost was its Buffer.concat of all it held on each chunk, and a count of
 * bytes, unlike a time, is the same on a loaded machine.
 */
export function countConcat(t: { teardown(fn: () => unknown): void }): { bytes: number } {
  const count = { bytes: 0 };
  const original = Object.getOwnPropertyDescriptor(Buffer, 'concat')!;
  const concat = Buffer.concat.bind(Buffer);
  Buffer.concat = (list: readonly Uint8Array[], totalLength?: number) => {
    const joined = concat(list, totalLength);
    count.bytes += joined.length;
    return joined;
  };
  t.teardown(() => { Object.defineProperty(Buffer, 'concat', original); });
  return count;
}
