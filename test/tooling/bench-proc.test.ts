import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { listeningPid, machineCpuUs, processCpuUs, treeCpuUs } from '../../bench/proc.js';

/**
 * The bench's /proc readings (bench/proc.ts), which its login figure uses to say where a login's CPU goes and
 * what ratio the machine allows at most. Linux only: elsewhere they are undefined and the figure says so.
 */
const onLinux = existsSync('/proc/net/tcp');

describe.skipIf(!onLinux)("the bench's /proc readings", () => {
  let server: Server | undefined;
  let child: ChildProcess | undefined;
  afterEach(async () => {
    child?.kill('SIGKILL');
    child = undefined;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('finds the process listening on a port, and nothing on a port nobody listens on', async () => {
    // Another process, so that the answer is not simply "this one".
    child = spawn(process.execPath, ['-e', "require('node:net').createServer().listen(0, '127.0.0.1', function () { console.log(this.address().port); })"], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const port = await new Promise<number>((resolve, reject) => {
      child!.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
      child!.once('exit', (code) => reject(new Error(`listener exited with ${String(code)}`)));
    });
    expect(listeningPid(port)).toBe(child.pid);

    server = createServer();
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const own = (server.address() as AddressInfo).port;
    expect(listeningPid(own)).toBe(process.pid);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    expect(listeningPid(own)).toBeUndefined();
  });

  it("counts a process's CPU as Node itself does, its children's in its tree, and the machine's busy time within its total", async () => {
    const before = { proc: processCpuUs(process.pid), node: process.cpuUsage(), machine: machineCpuUs() };
    // Work until Node says 200 ms of CPU went by (not wall time: a busy machine would give us less of it).
    let node = process.cpuUsage(before.node);
    while (node.user + node.system < 200_000) {
      for (let i = 0; i < 10_000; i++) Math.sqrt(Math.random());
      node = process.cpuUsage(before.node);
    }
    const proc = (processCpuUs(process.pid) ?? Number.NaN) - (before.proc ?? Number.NaN);
    // /proc counts in 10 ms ticks, and the two readings are a moment apart.
    expect(proc).toBeGreaterThanOrEqual(node.user + node.system - 20_000);
    expect(proc).toBeLessThanOrEqual(node.user + node.system + 50_000);
    const machine = machineCpuUs();
    expect(machine && before.machine).toBeTruthy();
    const busy = machine!.busy - before.machine!.busy;
    expect(busy).toBeGreaterThanOrEqual(proc - 20_000);
    expect(busy).toBeLessThanOrEqual(machine!.total - before.machine!.total);

    // A child spinning: the tree's CPU holds the child's, the process's own does not.
    child = spawn(process.execPath, ['-e', 'const end = Date.now() + 20000; while (Date.now() < end);'], { stdio: 'ignore' });
    const childPid = child.pid as number;
    await vi.waitFor(() => expect(processCpuUs(childPid)).toBeGreaterThanOrEqual(100_000), { timeout: 15_000, interval: 50 });
    const childCpu = processCpuUs(childPid) as number;
    const alone = processCpuUs(process.pid) as number;
    const tree = treeCpuUs(process.pid);
    expect(tree - alone).toBeGreaterThanOrEqual(childCpu);
    expect(processCpuUs(2 ** 22 + 12_345)).toBeUndefined();
  });
});
