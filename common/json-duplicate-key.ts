/**
 * The first key repeated within one object of a JSON text, or null. JSON.parse keeps the last of
 * a repeated key, another parser (a platform's log, an auditor's tool) may keep the first: a
 * signed request `{"camera":"evil","camera":"cam1"}` was obeyed for cam1 while it read as evil to
 * anyone looking at the bytes (an outside probe). The text must already parse as JSON.
 */
export function duplicateKey(text: string): string | null {
  /** the keys seen in each open object (null for an array) */
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') { stack.push(new Set()); expectKey = true; continue; }
    if (c === '[') { stack.push(null); expectKey = false; continue; }
    if (c === '}' || c === ']') { stack.pop(); expectKey = false; continue; }
    if (c === ',') { expectKey = stack.at(-1) instanceof Set; continue; }
    if (c !== '"') continue;
    let j = i + 1;
    while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    if (expectKey) {
      const key = JSON.parse(text.slice(i, j + 1)) as string;
      const keys = stack.at(-1)!;
      if (keys.has(key)) return key;
      keys.add(key);
      expectKey = false;
    }
    i = j;
  }
  return null;
}
