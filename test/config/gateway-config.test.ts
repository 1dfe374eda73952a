import { describe, expect, it } from 'vitest';
import { loadConfig, type Env } from '../../src/config/config.js';
import { configProblems, randomSecret } from '../support/config.js';

const base = (): Record<string, string> => ({ NODE_ENV: 'test', DATA_DIR: '/tmp/portcullis-gateway-config', JWT_SECRET: randomSecret(), REFRESH_TOKEN_HASH_SECRET: randomSecret() });

const problemsOf = (env: Env): readonly string[] => configProblems(() => loadConfig(env));

describe('UPSTREAM_MAX_RESPONSE_BYTES', () => {
  it('defaults to 8 MiB and takes a whole number of bytes within bounds', () => {
    expect(loadConfig(base()).upstreams.maxResponseBytes).toBe(8 * 1024 * 1024);
    expect(loadConfig({ ...base(), UPSTREAM_MAX_RESPONSE_BYTES: '65536' }).upstreams.maxResponseBytes).toBe(65_536);
  });

  it('refuses values that are not a whole number of bytes from 1024 to 256 MiB, naming the variable', () => {
    for (const value of ['0', '1023', '1.5', 'lots', String(256 * 1024 * 1024 + 1)]) {
      const problems = problemsOf({ ...base(), UPSTREAM_MAX_RESPONSE_BYTES: value });
      expect(problems, value).toHaveLength(1);
      expect(problems[0], value).toMatch(/^UPSTREAM_MAX_RESPONSE_BYTES: /);
    }
  });
});

describe('UPSTREAMS URLs and credentials', () => {
  it('refuses a user name or password in an upstream URL, without echoing either', () => {
    const problems = problemsOf({ ...base(), UPSTREAMS: 'shop=https://gateway:hunter2-pass@shop.internal:8443/graphql,blog=http://blogger@blog.internal/graphql' });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^UPSTREAMS: the URL of "shop" carries a user name or password/);
    expect(problems[1]).toMatch(/^UPSTREAMS: the URL of "blog" carries a user name or password/);
    const text = problems.join('\n');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('gateway:');
    expect(text).not.toContain('blogger');
  });

  it('does not echo an entry that is not name=url when it may hold a URL', () => {
    const problems = problemsOf({ ...base(), UPSTREAMS: 'https://admin:hunter2@shop.internal/graphql?api_key=s3cr3t,https://admin:hunter2@blog.internal/graphql' });
    expect(problems).toHaveLength(3);
    const text = problems.join('\n');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('s3cr3t');
    expect(text).toContain('entry 1');
    expect(text).toContain('entry 2');
  });

  it('accepts a query in an upstream URL (an API key) and keeps it for the calls', () => {
    const config = loadConfig({ ...base(), UPSTREAMS: 'shop=https://shop.internal/graphql?api_key=s3cr3t' });
    expect(config.upstreams.list[0]?.url).toBe('https://shop.internal/graphql?api_key=s3cr3t');
  });
});
