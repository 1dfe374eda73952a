import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { CONFIG_VARIABLES } from '../src/config/config.js';
import { startMailSink, type MailSink } from './mail-sink.js';

/** A real gateway in a child process, as it would be deployed (NODE_ENV=production, explicit secrets). */
export interface GatewayProcess {
  readonly name: string;
  /** http://127.0.0.1:PORT — no path. */
  readonly origin: string;
  readonly pid: number;
  /** Milliseconds from spawn to the "listening" log line: tsx compile, database connect, revocation load. */
  readonly startMs: number;
  stop(): Promise<void>;
}

export interface GatewaySecrets {
  readonly JWT_SECRET: string;
  readonly REFRESH_TOKEN_HASH_SECRET: string;
}

/** One pair per run: gateways on the same database must accept each other's tokens (instances A and B). */
export function generateSecrets(): GatewaySecrets {
  return { JWT_SECRET: randomBytes(32).toString('base64url'), REFRESH_TOKEN_HASH_SECRET: randomBytes(32).toString('base64url') };
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 10_000;
const LISTENING = /Portcullis is listening on (http:\/\/[^/\s]+)\/graphql/;
const KEPT_OUTPUT_LINES = 40;

const children = new Set<ChildProcess>();
/** Set on Ctrl-C: the terminal signals the gateways too, and their exit is then expected, not news. */
let allStopping = false;

export function markGatewaysStopping(): void {
  allStopping = true;
}

/** Another child of the bench (the example upstream) that must not outlive it either. */
export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Last resort, on process exit: no gateway outlives the bench. */
export function killGatewaysNow(): void {
  for (const child of children) child.kill('SIGKILL');
}

/** One sink for every gateway of the run, started with the first; it dies with the bench process. */
let mailSink: Promise<MailSink> | undefined;

export async function startGateway(options: {
  name: string;
  mongodbUri: string;
  secrets: GatewaySecrets;
  env?: Readonly<Record<string, string>>;
  /** Extra node flags, e.g. `--cpu-prof` (the bench's `--cpu-prof DIR`): not allowed in NODE_OPTIONS. */
  nodeArgs?: readonly string[];
}): Promise<GatewayProcess> {
  // Only what this run sets: a variable exported in the caller's shell must not change what is measured.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !CONFIG_VARIABLES.includes(name)));
  mailSink ??= startMailSink();
  const mail = await mailSink;
  const env = {
    ...inherited,
    NODE_ENV: 'production',
    MONGODB_URI: options.mongodbUri,
    ...options.secrets,
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_ENABLED: 'true',
    SIGNUP_ENABLED: 'true',
    ...mail.env,
    // info, not warn: the "listening" line that carries the port is logged at info. Nothing is logged per
    // request at info, so this costs nothing while load runs.
    LOG_LEVEL: 'info',
    ...options.env,
  };
  const startedAt = performance.now();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', 'src/main.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => children.delete(child));

  // Both pipes are always drained: pino writes synchronously, and a full pipe would stall the gateway.
  const output: string[] = [];
  const keep = (line: string): void => {
    output.push(line);
    if (output.length > KEPT_OUTPUT_LINES) output.shift();
  };
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway ${options.name} did not listen within ${START_TIMEOUT_MS / 1000} s:\n${output.join('\n')}`)), START_TIMEOUT_MS);
    const onLine = (line: string): void => {
      keep(line);
      const match = LISTENING.exec(line);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    linesOf(child.stdout, onLine);
    linesOf(child.stderr, keep);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway ${options.name} exited (code ${String(code)}) before listening:\n${output.join('\n')}`));
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  const startMs = performance.now() - startedAt;
  let stopping = false;
  void exited.then((code) => {
    if (!stopping && !allStopping) console.error(`bench: gateway ${options.name} exited unexpectedly (code ${String(code)}):\n${output.join('\n')}`);
  });

  return {
    name: options.name,
    origin,
    pid: child.pid ?? -1,
    startMs,
    async stop(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      stopping = true;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function linesOf(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
}
