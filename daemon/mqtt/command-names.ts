/**
 * The commands the box takes on `<prefix>/cmd/<name>`. Apart from the payload schemas
 * (payloads.ts) so that the topics and the command path read the names without building them.
 */
export const COMMAND_NAMES = ['snapshot', 'export', 'hold', 'reload', 'evidence'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];
