import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';

export interface ProviderClient {
  readonly client_id: string;
  readonly client_secret?: string;
  readonly redirect_uris: string[];
  readonly token_endpoint_auth_method?: 'client_secret_post' | 'client_secret_basic' | 'none';
}

export interface ProviderAccount {
  readonly email?: string;
  readonly email_verified?: boolean;
  readonly name?: string;
}

export interface TestProvider {
  /** The issuer, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL('./oidc-provider-process.mjs', import.meta.url));

/** A signing key for a provider; pass the same one to a restarted provider so its old ID tokens still verify. */
export async function providerKeys(): Promise<{ keys: object[] }> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { keys: [{ ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'test-key' }] };
}

/**
 * oidc-provider in a process of its own on loopback (test/support/oidc-provider-process.mjs), configured with
 * these clients, keys and accounts. `port`: listen there (to bring a provider back at the same issuer).
 */
export async function startOidcProvider(options: {
  clients: ProviderClient[];
  accounts: Record<string, ProviderAccount>;
  jwks?: { keys: object[] };
  port?: number;
  idTokenAudience?: string;
}): Promise<TestProvider> {
  const jwks = options.jwks ?? (await providerKeys());
  const child: ChildProcess = spawn(process.execPath, [SCRIPT, JSON.stringify({ ...options, jwks })], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`the test OIDC provider exited (${code}): ${stderr}`)));
  });
  return {
    url,
    port: Number(new URL(url).port),
    async stop(): Promise<void> {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
