import t from 'tap';
import { parseCommand, UsageError } from '../../daemon/args.js';

const spec = {
  name: 'status', summary: 'is the box recording', usage: 'status [--data DIR] [--json]',
  options: { data: { type: 'string' }, json: { type: 'boolean' } },
  help: { data: 'the data directory', json: 'print JSON' },
} as const;

t.test('a mistyped option is answered with the options the command takes', async (t) => {
  t.throws(() => parseCommand(spec, ['--jsn']), new UsageError('unknown option --jsn; status takes --data, --json (and --help)\n'
    + 'usage: edge-nvr status [--data DIR] [--json]'), 'names the option and the ones there are');
  const err = (() => { try { parseCommand(spec, ['--json=1']); } catch (e) { return e as Error; } })();
  t.type(err, UsageError, 'an option given a value it does not take is a usage error too');
  t.match(err?.message, /--json/, 'naming the option');
  t.same(parseCommand(spec, ['--data', '/d', '--json'])?.values, { data: '/d', json: true }, 'the right options still parse');
});
