import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CONFIG_VARIABLES } from '../src/config/config.js';
import { parseSecret } from '../src/config/secret.js';
import { printableIdentityKey } from '../src/tokens/identity-key.js';
import { linesOf, trackChild, type GatewaySecrets } from './gateway.js';

/** examples/upstream-service.ts in a child process, as a team would run it behind the gateway. */
export interface UpstreamProcess {
  /** http://127.0.0.1:PORT/graphql */
  readonly url: string;
  readonly origin: string;
  readonly pid: number;
  stop(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const START_TIMEOUT_MS = 60_000;
const LISTENING = /upstream service on (http:\/\/[^/\s]+)\/graphql/;

async function identityKeyOf(secrets: GatewaySecrets, upstream: string): Promise<string> {
  const parsed = parseSecret(secrets.JWT_SECRET);
  if (!parsed.ok) throw new Error(`JWT_SECRET ${parsed.problem}`);
  return printableIdentityKey(parsed.secret, upstream);
}

export async function startUpstream(options: { secrets: GatewaySecrets }): Promise<UpstreamProcess> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !CONFIG_VARIABLES.includes(name) && name !== 'PORT'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/upstream-service.ts'], {
    cwd: REPO_ROOT,
    // Its own HS256 identity key (as npm run identity:key -- --upstream shop prints it), never the gateway's JWT_SECRET.
    env: { ...inherited, NODE_ENV: 'production', PORT: '0', IDENTITY_KEY: await identityKeyOf(options.secrets, 'shop') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const output: string[] = [];
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the example upstream did not listen within ${START_TIMEOUT_MS / 1000} s:\n${output.join('\n')}`)), START_TIMEOUT_MS);
    const onLine = (line: string): void => {
      output.push(line);
      const match = LISTENING.exec(line);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    linesOf(child.stdout, onLine);
    linesOf(child.stderr, onLine);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the example upstream exited (code ${String(code)}) before listening:\n${output.join('\n')}`));
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return {
    url: `${origin}/graphql`,
    origin,
    pid: child.pid ?? -1,
    async stop(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
