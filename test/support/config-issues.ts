import type t from 'tap';
import { ConfigError } from '../../config/errors.js';
import { parseConfig } from '../../config/load.js';

type Tap = Pick<typeof t, 'type' | 'equal' | 'notMatch' | 'fail'>;

/**
 * The issues parseConfig reports for `text` (fails the test if it accepts it): each must be one
 * line, name the source, and hold nothing `forbidden` matches (a password the text carries).
 */
export function configIssues(t: Tap, text: string, forbidden?: RegExp): string[] {
  try {
    parseConfig(text, 'inline.yaml');
  } catch (err) {
    t.type(err, ConfigError);
    const e = err as ConfigError;
    t.equal(e.source, 'inline.yaml');
    for (const issue of e.issues) {
      t.notMatch(issue, /\n/, 'every issue is one line');
      if (forbidden) t.notMatch(issue, forbidden, `no secret: ${issue}`);
    }
    return e.issues;
  }
  t.fail('config was accepted');
  return [];
}
