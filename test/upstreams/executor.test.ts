import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse, type GraphQLError } from 'graphql';
import type { ExecutionResult } from '@graphql-tools/utils';
import { afterEach, describe, expect, it } from 'vitest';
import { createUpstreamExecutor, upstreamFailureOf, UpstreamError, type UpstreamCallContext } from '../../src/upstreams/executor.js';

/** A bare upstream on loopback that records what it was sent and answers `answer`. */
async function listen(host: string, answer: string, status = 200, extraHeaders: Record<string, string> = {}): Promise<{ server: Server; origin: string; seen: Array<{ headers: IncomingHttpHeaders; body: string; port: number | undefined }> }> {
  const seen: Array<{ headers: IncomingHttpHeaders; body: string; port: number | undefined }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ headers: req.headers, body, port: req.socket.remotePort });
      res.writeHead(status, { 'content-type': 'application/graphql-response+json; charset=utf-8', ...extraHeaders }).end(answer);
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return { server, origin: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, seen };
}

describe('upstream executor (node:http, keep-alive)', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it('sends only query, variables and operationName, with the headers given for that upstream, on one reused connection', async () => {
    const upstream = await listen('127.0.0.1', '{"data":{"a":1}}');
    servers.push(upstream.server);
    const execute = createUpstreamExecutor({ name: 'shop', url: `${upstream.origin}/graphql`, timeoutMs: 2000 });
    const context: UpstreamCallContext = { upstreamHeaders: new Map([['shop', { authorization: 'Bearer identity' }], ['blog', { authorization: 'Bearer other' }]]) };
    const document = parse('query Q($n: Int) { a(n: $n) }');
    const first = await execute({ document, variables: { n: 1 }, operationName: 'Q', context, extensions: { leak: true } });
    await execute({ document, variables: { n: 2 }, operationName: 'Q', context });
    expect(first).toEqual({ data: { a: 1 } });
    expect(JSON.parse(upstream.seen[0]?.body ?? '')).toEqual({ query: expect.stringContaining('query Q($n: Int)'), variables: { n: 1 }, operationName: 'Q' });
    expect(upstream.seen[0]?.headers).toMatchObject({ authorization: 'Bearer identity', 'content-type': 'application/json', connection: 'keep-alive' });
    expect(upstream.seen.map((request) => request.headers['authorization'])).toEqual(['Bearer identity', 'Bearer identity']);
    expect(upstream.seen[1]?.port).toBe(upstream.seen[0]?.port);
  });

  it('reaches an upstream named by an IPv6 literal', async (context) => {
    let upstream;
    try {
      upstream = await listen('::1', '{"data":{"a":1}}');
    } catch {
      // Some containers have no IPv6 loopback: nothing can listen there, so there is nothing to reach.
      context.skip();
      return;
    }
    servers.push(upstream.server);
    const execute = createUpstreamExecutor({ name: 'shop', url: `${upstream.origin}/graphql`, timeoutMs: 2000 });
    expect(await execute({ document: parse('{ a }') })).toEqual({ data: { a: 1 } });
  });

  it('gives every error of a GraphQL answer an UpstreamError, keeping path and code only', async () => {
    const upstream = await listen('127.0.0.1', '{"data":{"a":null},"errors":[{"message":"boom","path":["a"],"locations":[{"line":1,"column":3}],"extensions":{"code":"X","secret":"s"}}]}');
    servers.push(upstream.server);
    const execute = createUpstreamExecutor({ name: 'shop', url: `${upstream.origin}/graphql`, timeoutMs: 2000 });
    const result = (await execute({ document: parse('{ a }') })) as ExecutionResult;
    expect(result.data).toEqual({ a: null });
    const error = result.errors?.[0] as GraphQLError;
    expect(error.path).toEqual(['a']);
    expect(error.extensions).toEqual({ code: 'X' });
    expect(error.originalError).toBeInstanceOf(UpstreamError);
    expect(upstreamFailureOf(error)).toBeUndefined();
  });

  it('does not follow a redirect, so the identity token goes nowhere else', async () => {
    const elsewhere = await listen('127.0.0.1', '{"data":{"a":1}}');
    const upstream = await listen('127.0.0.1', '{"data":{"a":2}}', 307, { location: `${elsewhere.origin}/graphql` });
    servers.push(elsewhere.server, upstream.server);
    const execute = createUpstreamExecutor({ name: 'shop', url: `${upstream.origin}/graphql`, timeoutMs: 2000 });
    const context: UpstreamCallContext = { upstreamHeaders: new Map([['shop', { authorization: 'Bearer identity' }]]) };
    const result = (await execute({ document: parse('{ a }'), context })) as ExecutionResult;
    expect(upstreamFailureOf(result.errors?.[0])?.kind).toBe('not-graphql');
    expect(elsewhere.seen).toHaveLength(0);
  });

  it('classifies a refused connection as unreachable', async () => {
    const upstream = await listen('127.0.0.1', '{}');
    const { origin } = upstream;
    await new Promise((resolve) => upstream.server.close(resolve));
    const execute = createUpstreamExecutor({ name: 'shop', url: `${origin}/graphql`, timeoutMs: 2000 });
    const result = (await execute({ document: parse('{ a }') })) as ExecutionResult;
    expect(upstreamFailureOf(result.errors?.[0])?.kind).toBe('unreachable');
  });
});
