import { COMMAND_NAMES, type CommandName } from './command-names.js';

/** The box's topics under one prefix (default `edge-nvr/<box id>`). */
export class Topics {
  constructor(readonly prefix: string) {}

  static defaultPrefix(boxId: string): string {
    return `edge-nvr/${boxId}`;
  }

  get status(): string { return `${this.prefix}/status`; }
  get health(): string { return `${this.prefix}/health`; }
  get events(): string { return `${this.prefix}/events`; }
  get checkpoint(): string { return `${this.prefix}/checkpoint`; }
  cameraState(camera: string): string { return `${this.prefix}/cameras/${camera}/state`; }
  /** every command topic, and the replies (ignored on arrival) */
  get commandFilter(): string { return `${this.prefix}/cmd/#`; }
  reply(name: string | null): string { return `${this.prefix}/cmd/${name ?? INVALID}/reply`; }

  /**
   * What a topic under `<prefix>/cmd/` asks for: `reply` for the box's own replies (ignored),
   * `invalid` for a name that is no safe single topic level, `unknown` for a well-formed name
   * the box does not know, else the command.
   */
  parseCommandTopic(topic: string): { kind: 'reply' } | { kind: 'invalid'; raw: string } | { kind: 'unknown'; name: string } | { kind: 'command'; name: CommandName } {
    const rest = topic.slice(`${this.prefix}/cmd/`.length);
    if (rest.endsWith('/reply') || rest === 'reply') return { kind: 'reply' };
    if (!COMMAND_NAME.test(rest)) return { kind: 'invalid', raw: rest.slice(0, 100) };
    if ((COMMAND_NAMES as readonly string[]).includes(rest)) return { kind: 'command', name: rest as CommandName };
    return { kind: 'unknown', name: rest };
  }
}

/** one topic level: lower-case letters, digits, "_" and "-" (no "/", "..", "+", "#", NUL) */
const COMMAND_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
/** where the box answers a command whose topic names no valid command (cannot clash: names start with a letter) */
export const INVALID = '_invalid';

/** A topic a client may name as its MQTT 5 response topic: no wildcards, no `$` system topics, no NUL. */
export function safeResponseTopic(topic: unknown): topic is string {
  return typeof topic === 'string' && topic.length > 0 && topic.length <= 256 && !/[+#]/.test(topic) && !topic.includes('\u0000') && !topic.startsWith('$');
}
