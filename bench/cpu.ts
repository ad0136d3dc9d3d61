import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU accounting for the benchmarks, from /proc (Linux): this process, and the child processes it
 * started (DynamoDB Local, the sandbox). Figures are seconds of user + system time; `null` where
 * /proc is absent.
 */

const clockTicks = 100; // USER_HZ on Linux

const readProc = (pid: string, file: string): string | null => {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return null;
  }
};

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces). */
const statFields = (pid: string): string[] | null => {
  const stat = readProc(pid, 'stat');
  return stat ? stat.slice(stat.lastIndexOf(')') + 2).split(' ') : null;
};

/** CPU seconds of this process's descendants whose command line contains `marker` (not the `sh` wrappers). */
export const childCpuSeconds = (marker: string): number | null => {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return null;
  }
  const parent = new Map<string, string>();
  for (const pid of pids) {
    const fields = statFields(pid);
    if (fields?.[1]) parent.set(pid, fields[1]);
  }
  const descends = (pid: string): boolean => {
    for (let current = parent.get(pid), hops = 0; current && hops < 16; current = parent.get(current), hops += 1) {
      if (current === String(process.pid)) return true;
    }
    return false;
  };
  let seconds = 0;
  for (const pid of pids) {
    if (!descends(pid)) continue;
    const cmdline = readProc(pid, 'cmdline');
    if (!cmdline?.includes(marker) || cmdline.startsWith('sh\0')) continue;
    const fields = statFields(pid);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the command name.
    if (fields) seconds += (Number(fields[11]) + Number(fields[12])) / clockTicks;
  }
  return seconds;
};

/** CPU seconds of DynamoDB Local started by this process. */
export const javaCpuSeconds = (): number | null => childCpuSeconds('DynamoDBLocal');

/** CPU seconds of this process, every thread. */
export const nodeCpuSeconds = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};
