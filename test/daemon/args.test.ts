import t from 'tap';
import { parseCommand, parseReason, UsageError } from '../../daemon/args.js';

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

t.test('--help shows every option with its line (README: each command\'s --help shows every option), and runs nothing else', async (t) => {
  // CommandSpec's help is typed as one line per option, so no command can leave one out
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => { out.push(chunk); return true; }) as typeof process.stdout.write;
  let parsed;
  try {
    parsed = parseCommand(spec, ['--help']);
  } finally {
    process.stdout.write = write;
  }
  t.equal(parsed, null, 'the command is told to stop');
  t.same(out.join('').split('\n').filter((l) => l.startsWith('  --')).map((l) => l.trim().replace(/\s+/, ' ')),
    ['--data the data directory', '--json print JSON', '--help this text'], 'each option, then --help');
});

t.test('an option given an empty value is refused, naming it and what it wants (never read as "not given" or as the current directory)', async (t) => {
  for (const argv of [['--data', ''], ['--data='], ['--data', '  ']]) {
    t.throws(() => parseCommand(spec, argv), new UsageError('--data is empty: give the data directory\nusage: edge-nvr status [--data DIR] [--json]'), JSON.stringify(argv));
  }
  const multi = { ...spec, options: { ...spec.options, officer: { type: 'string', multiple: true } }, help: { ...spec.help, officer: 'NAME:ID' } } as const;
  t.throws(() => parseCommand(multi, ['--officer', 'A B:1', '--officer', '']), /--officer is empty: give NAME:ID/, 'one empty value of several');
});

t.test('a reason for the audit log: required, and 3 characters at least, each failure said as itself', async (t) => {
  t.throws(() => parseReason('hold add', undefined, 'a case number'), new UsageError('hold add: --reason is required (a case number)'));
  t.throws(() => parseReason('hold add', '', 'a case number'), new UsageError('hold add: --reason is required (a case number)'));
  t.throws(() => parseReason('hold add', ' ab ', 'a case number'), new UsageError('hold add: --reason needs 3 characters or more (a case number), got " ab "'));
  t.equal(parseReason('hold add', '  case 42 ', 'a case number'), 'case 42', 'kept trimmed');
  // a line break forged a second line in `hold list`; zero-width spaces passed as a reason nobody sees
  t.throws(() => parseReason('hold add', 'case\n   2 cam1 fake hold', 'a case number'), /--reason must be one line of text without control characters/);
  t.throws(() => parseReason('hold add', '\u200b\u200b\u200b', 'a case number'), /--reason needs 3 characters or more/);
  t.throws(() => parseReason('hold add', 'a\u200bb', 'a case number'), /--reason needs 3 characters or more/, 'two letters and a zero-width space');
  t.equal(parseReason('hold add', 'Fall Nr. 42 für Müller', 'a case number'), 'Fall Nr. 42 für Müller', 'letters of any script');
});
