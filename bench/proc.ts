import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Readings from Linux's /proc for the bench's CPU figures: each is undefined elsewhere (or when /proc refuses),
 * and the figures then say "not measured" instead of guessing.
 */

/**
 * CPU time (user + system) a process has used so far, in microseconds, every thread included.
 * Ticks are 1/100 s: over a 10 s run of thousands of requests that is well under a microsecond per request.
 */
export function processCpuUs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (in parentheses, which may hold spaces): utime and stime are 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * 10_000 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU (user + system) of a process and its children (cluster workers), in microseconds; NaN if unreadable. */
export function treeCpuUs(pid: number): number {
  let total = processCpuUs(pid) ?? Number.NaN;
  try {
    for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) total += processCpuUs(Number(child)) ?? 0;
  } catch {
    // Not Linux, or gone: the process alone.
  }
  return total;
}

/** The whole machine's CPU time so far, in microseconds summed over its cores: busy, and busy plus idle. */
export function machineCpuUs(): { readonly busy: number; readonly total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal …; guest time is already inside user and nice.
    const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (values.length < 8 || values.some((value) => !Number.isFinite(value))) return undefined;
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = values;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy: busy * 10_000, total: (busy + idle + iowait) * 10_000 };
  } catch {
    return undefined;
  }
}

/**
 * The process listening on this TCP port of the loopback (or any) address, found as `ss -ltnp` does: the
 * socket's inode in /proc/net/tcp{,6}, then the process holding it among its file descriptors. Processes of
 * other users cannot be read, so a database run by someone else is not found.
 */
export function listeningPid(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …; st 0A is LISTEN.
      const fields = row.trim().split(/\s+/);
      const local = fields[1];
      if (fields[3] !== '0A' || local === undefined || fields[9] === undefined) continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith('socket:[') && inodes.has(target.slice(8, -1))) return Number(pid);
      } catch {
        // The descriptor closed while we looked.
      }
    }
  }
  return undefined;
}
