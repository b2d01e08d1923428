/** A config that cannot be used: every issue is one line, `path: what is wrong, what is expected`. */
export class ConfigError extends Error {
  constructor(
    /** the file (or "<inline>") the config came from */
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`${source}: ${issues.join('; ')}`);
    this.name = 'ConfigError';
  }
}
