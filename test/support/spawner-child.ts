/**
 * Stands in for the daemon in spawner tests that kill it: starts one long-running recorder-like
 * child through the spawner (with the parent-death signal the backends use) and prints its pid.
 *
 *   node --import tsx test/support/spawner-child.ts <marker>
 *
 * Prints {"pid": N, "socketDir": D} once the child runs, then waits to be killed (a kill -9
 * leaves D behind: the test removes it).
 */
import { withParentDeathSignal } from '../../recorder/backends/orphans.js';
import { spawnerSocketDir, spawnRecorder } from '../../recorder/backends/spawner.js';

const marker = process.argv[2] ?? 'spawner-child';
const [command, args] = withParentDeathSignal(process.execPath, ['-e', 'setInterval(() => {}, 1000)', marker]);
const child = spawnRecorder(command, args, ['null', 'socket', 'socket']);
child.once('spawn', () => process.stdout.write(`${JSON.stringify({ pid: child.pid, socketDir: spawnerSocketDir() })}\n`));
child.once('error', (err) => { process.stderr.write(`${err.message}\n`); process.exit(1); });
